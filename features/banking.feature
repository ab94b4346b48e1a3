Feature: Banking assistant
  As a bank customer
  I want to ask about my accounts and move money in plain words
  So that I do not have to find the right screen in the banking app

  Scenario: Balance, then a transfer
    Given the agent "banking"
    When the user says "What's my checking balance?"
    Then the agent calls "get_balance"
    And the agent does not call "transfer"
    And the response contains "1,500"
    When the user says "Move 200 of it to savings"
    Then the agent calls "transfer"
    And money moves from "checking" to "savings"
    And the agent does not call "get_balance"
    And the response contains "3,400"
    When the user says "Thanks, that's all"
    Then the response contains "welcome"

  Scenario: The agent does not overdraw an account
    Given the agent "banking"
    When the user says "Transfer 5000 from checking to savings, please"
    Then the agent calls "transfer"
    And the response contains "insufficient funds"

  Scenario Outline: Every model finds the savings balance
    Given the agent "banking" using model "<model>"
    When the user says "What's my savings balance?"
    Then the agent calls "get_balance"
    And the agent does not call "transfer"
    And the response contains "3,200"

    Examples:
      | model        |
      | gpt-4.1-mini |
      | gpt-4.1      |
