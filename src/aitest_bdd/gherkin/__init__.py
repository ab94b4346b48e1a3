"""The Gherkin side: `.feature` collection, the step library, and what each step did."""
