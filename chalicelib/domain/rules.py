"""The trading rules as plain functions over plain values: the same check guards placement and settlement."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from chalicelib.domain.vocabulary import Reason, Side, TradeStatus


@dataclass(frozen=True)
class Order:
    side: Side
    volume: int
    price: Decimal  # the stock's current close price
    # What this order set aside at placement: cash for a buy, shares for a sell.
    reserved_cash: Decimal = Decimal("0")
    reserved_quantity: int = 0
    # A buy fills only at or below it, a sell at or above; None is a market order.
    limit_price: Decimal | None = None

    @property
    def cost(self) -> Decimal:
        """What filling it at the current price costs (a buy) or pays (a sell)."""
        return self.price * self.volume

    @property
    def most_it_may_cost(self) -> Decimal:
        """What a buy must set aside: at its limit (it never fills above it), else at the current price."""
        return (self.price if self.limit_price is None else self.limit_price) * self.volume

    @property
    def limit_met(self) -> bool:
        if self.limit_price is None:
            return True
        return self.price <= self.limit_price if self.side == Side.BUY else self.price >= self.limit_price


@dataclass(frozen=True)
class Account:
    """Current values of the rows a trade touches."""

    balance: Decimal
    reserved_cash: Decimal
    quantity: int
    reserved_quantity: int
    stock_volume: int
    average_entry_price: Decimal = Decimal("0")


@dataclass(frozen=True)
class Decision:
    """A settlement decision as deltas to apply; a rejection only releases what the order had set aside."""

    status: TradeStatus
    reason: Reason | None
    total: Decimal | None
    balance: Decimal
    reserved_cash: Decimal
    quantity: int
    reserved_quantity: int
    stock_volume: int
    # The position's average entry price afterwards, and a settled sell's realized P/L.
    average_entry_price: Decimal
    realized_pl: Decimal | None = None


# Averages and P/L are kept to this many places (rounded half-even), so that sums of them are exact to the cent
# for any realistic number of trades; answers round them to cents once.
EXACT_PLACES = Decimal(1).scaleb(-20)


def average_after_buy(average: Decimal, quantity: int, price: Decimal, volume: int) -> Decimal:
    """The weighted average cost of `quantity` shares at `average` and `volume` more at `price`."""
    with localcontext() as exact:
        exact.prec = 60
        return ((average * quantity + price * volume) / (quantity + volume)).quantize(EXACT_PLACES)


def realized_pl(average: Decimal, price: Decimal, volume: int) -> Decimal:
    """What selling `volume` shares bought at `average` for `price` each made (negative: lost)."""
    with localcontext() as exact:
        exact.prec = 60
        return ((price - average) * volume).quantize(EXACT_PLACES)


# What each side needs, in the order a refusal names it: (the amount asked for, what must cover it, the reason
# when it does not). Placement checks these in SQL (chalicelib/adapters/placement.py builds its conditions from
# this table) and in `refusal` below, which names the reason; settlement checks them in `refusal` too.
LIMITS: dict[Side, tuple[tuple[str, str, Reason], ...]] = {
    Side.BUY: (("cost", "available_cash", Reason.INSUFFICIENT_FUNDS),
               ("volume", "stock_volume", Reason.INSUFFICIENT_VOLUME)),
    Side.SELL: (("volume", "available_shares", Reason.INSUFFICIENT_SHARES),),
}


def refusal(side: Side, volume: int, cost: Decimal, available_cash: Decimal, available_shares: int,
            stock_volume: int) -> Reason | None:
    """Why an order cannot be filled from what is available, or None if it can."""
    amounts: dict[str, Decimal | int] = {"volume": volume, "cost": cost, "available_cash": available_cash,
               "available_shares": available_shares, "stock_volume": stock_volume}
    for needed, cover, reason in LIMITS[side]:
        if amounts[needed] > amounts[cover]:
            return reason
    return None


def pre_check(order: Order, account: Account) -> Reason | None:
    """The broker's buying-power check at placement, against what pending orders have not set aside. A limit
    buy needs its limit x volume; whether the limit is met is decided at settlement, by the price then."""
    return refusal(
        order.side,
        order.volume,
        order.most_it_may_cost,
        account.balance - account.reserved_cash,
        account.quantity - account.reserved_quantity,
        account.stock_volume,
    )


def reservation(order: Order) -> tuple[Decimal, int]:
    """Cash and shares an accepted order sets aside until it settles."""
    return (order.most_it_may_cost, 0) if order.side == Side.BUY else (Decimal("0"), order.volume)


def settle(order: Order, account: Account) -> Decision:
    """Check the limit against the current price, re-check what is available with current values (this order's
    own reservation counts as available), and decide. It fills at the current price: a limit buy's reservation
    is released whole and only the cost is paid."""
    own_cash, own_shares = order.reserved_cash, order.reserved_quantity
    reason = Reason.LIMIT_NOT_MET if not order.limit_met else refusal(
        order.side,
        order.volume,
        order.cost,
        account.balance - account.reserved_cash + own_cash,
        account.quantity - account.reserved_quantity + own_shares,
        account.stock_volume,
    )
    if reason is not None:
        return _released(TradeStatus.REJECTED, reason, order, account)
    sign = 1 if order.side == Side.BUY else -1
    if order.side == Side.BUY:
        average = average_after_buy(account.average_entry_price, account.quantity, order.price, order.volume)
        realized = None
    else:
        left = account.quantity - order.volume
        average = account.average_entry_price if left > 0 else Decimal("0")
        realized = realized_pl(account.average_entry_price, order.price, order.volume)
    return Decision(
        status=TradeStatus.SETTLED,
        reason=None,
        total=order.cost,
        balance=-sign * order.cost,
        reserved_cash=-own_cash,
        quantity=sign * order.volume,
        reserved_quantity=-own_shares,
        stock_volume=-sign * order.volume,
        average_entry_price=average,
        realized_pl=realized,
    )


def cancel(order: Order, account: Account) -> Decision:
    """A pending order withdrawn by its owner: only what it set aside is released."""
    return _released(TradeStatus.CANCELED, None, order, account)


def _released(status: TradeStatus, reason: Reason | None, order: Order, account: Account) -> Decision:
    return Decision(status, reason, None, Decimal("0"), -order.reserved_cash, 0, -order.reserved_quantity, 0,
                    account.average_entry_price)
