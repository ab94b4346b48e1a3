Feature: Weather assistant
  The weather agent answers follow-up questions from the conversation so far,
  so the user never has to repeat the city.

  Background:
    Given the agent "weather"

  Scenario: Paris today, tomorrow, and an umbrella
    When the user says "What's the weather in Paris?"
    Then the agent calls "get_weather"
    And the response contains "Paris"
    When the user says "What about tomorrow?"
    Then the agent calls "get_forecast"
    And the agent does not call "get_weather"
    And the response contains "rain"
    When the user says "Should I bring an umbrella?"
    Then the agent does not call "get_forecast"
    And the response contains "umbrella"
