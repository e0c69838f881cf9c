"""The trading rules as plain functions over plain values: the same check guards placement and settlement."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

BUY, SELL = "buy", "sell"
PENDING, SETTLED, REJECTED = "pending", "settled", "rejected"
INSUFFICIENT_FUNDS = "insufficient_funds"
INSUFFICIENT_SHARES = "insufficient_shares"
INSUFFICIENT_VOLUME = "insufficient_volume"


@dataclass(frozen=True)
class Order:
    side: str
    volume: int
    price: Decimal  # the stock's close price
    # What this order set aside at placement: cash for a buy, shares for a sell.
    reserved_cash: Decimal = Decimal("0")
    reserved_quantity: int = 0

    @property
    def cost(self) -> Decimal:
        return self.price * self.volume


@dataclass(frozen=True)
class Account:
    """Current values of the rows a trade touches."""

    balance: Decimal
    reserved_cash: Decimal
    quantity: int
    reserved_quantity: int
    stock_volume: int


@dataclass(frozen=True)
class Decision:
    """A settlement decision as deltas to apply; a rejection only releases what the order had set aside."""

    status: str
    reason: str | None
    total: Decimal | None
    balance: Decimal
    reserved_cash: Decimal
    quantity: int
    reserved_quantity: int
    stock_volume: int


def refusal(side: str, volume: int, cost: Decimal, available_cash: Decimal, available_shares: int,
            stock_volume: int) -> str | None:
    """Why an order cannot be filled from what is available, or None if it can."""
    if side == BUY:
        if cost > available_cash:
            return INSUFFICIENT_FUNDS
        if volume > stock_volume:
            return INSUFFICIENT_VOLUME
        return None
    if volume > available_shares:
        return INSUFFICIENT_SHARES
    return None


def pre_check(order: Order, account: Account) -> str | None:
    """The broker's buying-power check at placement, against what pending orders have not set aside."""
    return refusal(
        order.side,
        order.volume,
        order.cost,
        account.balance - account.reserved_cash,
        account.quantity - account.reserved_quantity,
        account.stock_volume,
    )


def reservation(order: Order) -> tuple[Decimal, int]:
    """Cash and shares an accepted order sets aside until it settles."""
    return (order.cost, 0) if order.side == BUY else (Decimal("0"), order.volume)


def settle(order: Order, account: Account) -> Decision:
    """Re-check with current values (this order's own reservation counts as available) and decide."""
    own_cash, own_shares = order.reserved_cash, order.reserved_quantity
    reason = refusal(
        order.side,
        order.volume,
        order.cost,
        account.balance - account.reserved_cash + own_cash,
        account.quantity - account.reserved_quantity + own_shares,
        account.stock_volume,
    )
    if reason is not None:
        return Decision(REJECTED, reason, None, Decimal("0"), -own_cash, 0, -own_shares, 0)
    sign = 1 if order.side == BUY else -1
    return Decision(
        status=SETTLED,
        reason=None,
        total=order.cost,
        balance=-sign * order.cost,
        reserved_cash=-own_cash,
        quantity=sign * order.volume,
        reserved_quantity=-own_shares,
        stock_volume=-sign * order.volume,
    )
