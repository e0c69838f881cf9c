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


# What each side needs, in the order a refusal names it: (the amount asked for, what must cover it, the reason
# when it does not). Placement checks these in SQL (chalicelib/adapters/placement.py builds its conditions from
# this table) and in `refusal` below, which names the reason; settlement checks them in `refusal` too.
LIMITS: dict[str, tuple[tuple[str, str, str], ...]] = {
    BUY: (("cost", "available_cash", INSUFFICIENT_FUNDS), ("volume", "stock_volume", INSUFFICIENT_VOLUME)),
    SELL: (("volume", "available_shares", INSUFFICIENT_SHARES),),
}


def refusal(side: str, volume: int, cost: Decimal, available_cash: Decimal, available_shares: int,
            stock_volume: int) -> str | None:
    """Why an order cannot be filled from what is available, or None if it can."""
    amounts: dict[str, Decimal | int] = {"volume": volume, "cost": cost, "available_cash": available_cash,
               "available_shares": available_shares, "stock_volume": stock_volume}
    for needed, cover, reason in LIMITS[side]:
        if amounts[needed] > amounts[cover]:
            return reason
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
