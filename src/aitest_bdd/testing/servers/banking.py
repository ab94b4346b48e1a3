"""Example MCP server: a tiny in-memory bank with a checking and a savings account.

Run it with ``python -m aitest_bdd.testing.servers.banking`` (stdio), or add
``--transport streamable-http --host 127.0.0.1 --port 8000`` to serve it at ``/mcp``.
State lives in the server process and starts fresh on every launch:
checking holds 1,500.00 USD and savings 3,200.00 USD.

Besides its tools it offers a prompt, ``review_account`` (argument ``account``), a resource,
``bank://policies/fees``, and a resource template, ``bank://statements/{account}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

import mcp_types
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts.base import UserMessage
from pydantic import Field
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from aitest_bdd.testing.servers._cli import add_tools, run_cli

CURRENCY = "USD"
TODAY = "2025-01-15"
"""Date stamped on transfers made through the server (fixed, so runs are reproducible)."""

INITIAL_BALANCES_CENTS = {"checking": 150_000, "savings": 320_000}
FEES_URI = "bank://policies/fees"
STATEMENT_URI = "bank://statements/{account}"
FEES = """Fees of the demo bank (USD):
- Transfers between your own accounts: free.
- Monthly account fee: 0.00 for checking, 0.00 for savings.
- Overdraft: not allowed; a transfer larger than the balance is refused."""

# Seeded history, oldest first: (date, account, type, description, signed amount in cents).
# Balances after each entry are derived backwards from the opening balances above.
SEED_TRANSACTIONS: list[tuple[str, str, str, str, int]] = [
    ("2024-12-31", "savings", "interest", "Monthly interest", 785),
    ("2025-01-02", "checking", "deposit", "Payroll deposit - ACME Corp", 245_000),
    ("2025-01-03", "checking", "withdrawal", "Rent payment - Maple Street Apartments", -120_000),
    ("2025-01-05", "savings", "deposit", "Automatic savings deposit", 25_000),
    ("2025-01-06", "checking", "withdrawal", "Grocery store - Fresh Market", -8_432),
    ("2025-01-08", "checking", "withdrawal", "Electric bill - City Power & Light", -9_618),
    ("2025-01-10", "checking", "withdrawal", "Coffee shop - Bean There", -475),
]


class Balance(TypedDict):
    account: str
    balance: float
    currency: str
    formatted: str


class Account(TypedDict):
    account: str
    type: str
    balance: float
    currency: str
    formatted: str


class Transaction(TypedDict):
    id: int
    date: str
    account: str
    type: str
    description: str
    amount: float
    balance_after: float
    currency: str


class TransferResult(TypedDict):
    status: str
    transaction_id: int
    from_account: str
    to_account: str
    amount: float
    currency: str
    formatted_amount: str
    new_balances: dict[str, Balance]


def _money(cents: int) -> float:
    return cents / 100


def _formatted(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100:,}.{abs(cents) % 100:02d}"


@dataclass
class Bank:
    """The in-memory state of one server process. Amounts are kept in integer cents."""

    balances: dict[str, int] = field(default_factory=lambda: dict(INITIAL_BALANCES_CENTS))
    transactions: list[Transaction] = field(default_factory=list)

    def __post_init__(self) -> None:
        running = dict(self.balances)
        for _date, account, _kind, _description, cents in SEED_TRANSACTIONS:
            running[account] -= cents  # opening balance before the seeded history
        for date, account, kind, description, cents in SEED_TRANSACTIONS:
            running[account] += cents
            self._record(date, account, kind, description, cents, running[account])

    def _record(self, date: str, account: str, kind: str, description: str, cents: int, after: int) -> int:
        tx_id = len(self.transactions) + 1
        self.transactions.append(
            Transaction(
                id=tx_id,
                date=date,
                account=account,
                type=kind,
                description=description,
                amount=_money(cents),
                balance_after=_money(after),
                currency=CURRENCY,
            )
        )
        return tx_id

    def check_account(self, account: str, role: str = "account") -> str:
        name = account.strip().lower()
        if name not in self.balances:
            valid = ", ".join(sorted(self.balances))
            raise ToolError(f"Unknown {role} {account!r}. Valid accounts: {valid}.")
        return name

    def balance(self, account: str) -> Balance:
        cents = self.balances[account]
        return Balance(account=account, balance=_money(cents), currency=CURRENCY, formatted=_formatted(cents))

    def transfer(self, source: str, target: str, amount: float) -> TransferResult:
        source = self.check_account(source, "from_account")
        target = self.check_account(target, "to_account")
        if source == target:
            raise ToolError(f"from_account and to_account are both {source!r}; choose two different accounts.")
        if not amount > 0:  # also rejects NaN
            raise ToolError(f"Invalid amount {amount!r}: the amount must be greater than 0.")
        cents = round(amount * 100)
        if abs(amount * 100 - cents) > 1e-6:
            raise ToolError(f"Invalid amount {amount!r}: use at most 2 decimal places (cents).")
        available = self.balances[source]
        if cents > available:
            raise ToolError(
                f"Insufficient funds in {source!r}: requested {_formatted(cents)} {CURRENCY}, "
                f"available balance is {_formatted(available)} {CURRENCY}."
            )
        self.balances[source] -= cents
        self.balances[target] += cents
        tx_id = self._record(TODAY, source, "transfer_out", f"Transfer to {target}", -cents, self.balances[source])
        self._record(TODAY, target, "transfer_in", f"Transfer from {source}", cents, self.balances[target])
        return TransferResult(
            status="completed",
            transaction_id=tx_id,
            from_account=source,
            to_account=target,
            amount=_money(cents),
            currency=CURRENCY,
            formatted_amount=_formatted(cents),
            new_balances={source: self.balance(source), target: self.balance(target)},
        )

    def history(self, account: str, limit: int) -> list[Transaction]:
        mine = [t for t in self.transactions if t["account"] == account]
        return list(reversed(mine))[:limit]

    def statement(self, account: str) -> str:
        """The account's transactions, oldest first, one per line, and its balance."""
        lines = [f"Statement of the {account} account ({CURRENCY})"]
        for t in self.transactions:
            if t["account"] == account:
                lines.append(f"{t['date']}  {t['description']}  {t['amount']:,.2f}  balance {t['balance_after']:,.2f}")
        lines.append(f"Balance: {_formatted(self.balances[account])}")
        return "\n".join(lines)


ACCOUNTS = {"json_schema_extra": {"enum": ["checking", "savings"]}}
"""The accounts, as a schema's closed set of values (the server also takes them in any case)."""
AccountName = Annotated[str, Field(description="Account name: 'checking' or 'savings'.", **ACCOUNTS)]


def build_server() -> MCPServer:
    """Create a banking server with fresh state."""
    bank = Bank()
    server = MCPServer(
        "banking",
        instructions=(
            "A demo bank with two USD accounts, 'checking' and 'savings'. "
            "Check balances, list recent transactions and move money between the accounts."
        ),
    )

    def list_accounts() -> list[Account]:
        """List all accounts with their type and current balance.

        Returns one entry per account: name ('checking' or 'savings'), type, balance, currency (USD)
        and the balance formatted with thousands separators (e.g. "1,500.00").
        """
        kinds = {"checking": "checking account", "savings": "savings account"}
        accounts = []
        for name in bank.balances:
            balance = bank.balance(name)
            accounts.append(
                Account(
                    account=name,
                    type=kinds[name],
                    balance=balance["balance"],
                    currency=CURRENCY,
                    formatted=balance["formatted"],
                )
            )
        return accounts

    def get_balance(account: AccountName) -> Balance:
        """Get the current balance of one account.

        Returns the account name, the balance as a number, the currency (USD) and the balance
        formatted for display, e.g. {"account": "checking", "balance": 1500.0, "currency": "USD",
        "formatted": "1,500.00"}.
        """
        return bank.balance(bank.check_account(account))

    def transfer(
        from_account: Annotated[
            str, Field(description="Account to take the money from: 'checking' or 'savings'.", **ACCOUNTS)
        ],
        to_account: Annotated[
            str, Field(description="Account to put the money into: 'checking' or 'savings'.", **ACCOUNTS)
        ],
        amount: Annotated[float, Field(description="Amount in USD, greater than 0, at most 2 decimals.")],
    ) -> TransferResult:
        """Move money from one account to the other.

        The amount must be greater than 0 and no more than the balance of from_account.
        Both balances are updated immediately and the transfer shows up in get_transactions.
        Returns the transfer details and the new balances of both accounts.
        """
        return bank.transfer(from_account, to_account, amount)

    def get_transactions(
        account: AccountName,
        limit: Annotated[int, Field(description="Maximum number of transactions to return (at least 1).")] = 10,
    ) -> list[Transaction]:
        """List the most recent transactions of one account, newest first.

        Each transaction has an id, date (YYYY-MM-DD), type (deposit, withdrawal, interest,
        transfer_in, transfer_out), description, signed amount (negative = money out)
        and the balance after the transaction.
        """
        name = bank.check_account(account)
        if limit < 1:
            raise ToolError(f"Invalid limit {limit}: it must be at least 1.")
        return bank.history(name, limit)

    add_tools(server, list_accounts, get_balance, transfer, get_transactions, changing=[transfer])

    @server.resource(FEES_URI, name="fees", description="The bank's fees.", mime_type="text/plain")
    def fees() -> str:
        return FEES

    @server.resource(STATEMENT_URI, name="statement", description="An account's statement.", mime_type="text/plain")
    def statement(account: str) -> str:
        return bank.statement(bank.check_account(account))

    @server.prompt(description="Ask for a review of one account, with its statement attached.")
    def review_account(account: AccountName) -> list[UserMessage]:
        name = bank.check_account(account)
        attached = mcp_types.TextResourceContents(
            uri=STATEMENT_URI.format(account=name), mime_type="text/plain", text=bank.statement(name)
        )
        return [
            UserMessage(f"Please review my {name} account: is anything unusual in its statement below?"),
            UserMessage(mcp_types.EmbeddedResource(type="resource", resource=attached)),
        ]

    return server


def main(argv: Sequence[str] | None = None) -> None:
    run_cli(
        build_server,
        prog="python -m aitest_bdd.testing.servers.banking",
        description="Example MCP server: a demo bank (checking and savings accounts).",
        argv=argv,
    )


if __name__ == "__main__":
    main()
