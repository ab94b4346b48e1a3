Feature: Banking assistant
  As a bank customer
  I want to ask about my accounts and move money in plain words
  So that I do not have to find the right screen in the banking app

  Scenario: Balance, then a transfer
    Given the agent "banking"
    When the user says "What's my checking balance?"
    Then the agent calls "get_balance" with account "checking"
    And the agent does not call "transfer"
    And the response contains "1,500"
    When the user says "Move 200 of it to savings"
    Then the agent calls "transfer" with amount 200
    And the agent calls "transfer" with:
      | argument     | value    |
      | from_account | checking |
      | to_account   | savings  |
    And money moves from "checking" to "savings"
    And the agent does not call "get_balance"
    And every tool call succeeds
    And the response contains all of:
      | 1,300 |
      | 3,400 |
    And the response satisfies "it tells the user the new balances of both accounts"
    When the user says "Thanks, that's all"
    Then the agent calls no tools
    And the response contains "welcome"
    And the agent calls "transfer" exactly once in the conversation
    And the conversation uses fewer than 5000 tokens
    And the conversation costs less than $0.01

  Scenario: The agent does not overdraw an account
    Given the agent "banking"
    When the user says "Transfer 5000 from checking to savings, please"
    Then the tool call to "transfer" fails
    And the response contains "insufficient funds"
    And the response does not contain "done"

  Scenario: A vague request gets a question back
    Given the agent "banking"
    When the user says "Move some money for me"
    Then the agent calls no tools
    And the agent asks for clarification

  Scenario Outline: Every model finds the savings balance
    Given the agent "banking" using model "<model>"
    When the user says "What's my savings balance?"
    Then the agent calls "get_balance" once
    And the agent does not call "transfer"
    And the response contains "3,200"
    And the turn uses fewer than 2000 tokens

    Examples:
      | model        |
      | gpt-4.1-mini |
      | gpt-4.1      |
