Feature: Weather assistant
  The weather agent answers follow-up questions from the conversation so far,
  so the user never has to repeat the city.

  Background:
    Given the agent "weather"

  Scenario: Paris today, tomorrow, and an umbrella
    When the user says "What's the weather in Paris?"
    Then the agent calls "get_weather" with city "Paris"
    And the response contains "Paris"
    When the user says "What about tomorrow?"
    Then the agent calls "get_forecast" with city "Paris"
    And the agent does not call "get_weather"
    And the response matches "rain|showers"
    When the user says "Should I bring an umbrella?"
    Then the agent calls no tools
    And the response contains "umbrella"
    And the agent calls these tools in order in the conversation:
      | get_weather  |
      | get_forecast |
    And the agent makes at most 2 tool calls in the conversation
    And the conversation takes less than 30 seconds
