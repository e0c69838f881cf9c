"""The trading rules as plain functions over plain values: the same check guards placement and settlement."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal, localcontext

from chalicelib.domain.vocabulary import OrderType, Reason, Side, TimeInForce, TradeStatus


@dataclass(frozen=True)
class Order:
    side: Side
    volume: int  # the whole order; `remaining` is what is still to fill
    price: Decimal  # the stock's current close price
    # What this order still holds: cash for a buy, shares for a sell.
    reserved_cash: Decimal = Decimal("0")
    reserved_quantity: int = 0
    # A buy fills only at or below it, a sell at or above; None is a market (or stop) order.
    limit_price: Decimal | None = None
    order_type: OrderType | None = None  # None: limit with a limit price, else market
    stop_price: Decimal | None = None
    time_in_force: TimeInForce | None = None  # None: the classic order, filled whole when evaluated or rejected
    filled_qty: int = 0
    triggered: bool = False  # a stop order whose stop a close has reached
    expires_at: datetime | None = None

    @property
    def type(self) -> OrderType:
        if self.order_type is not None:
            return self.order_type
        return OrderType.MARKET if self.limit_price is None else OrderType.LIMIT

    @property
    def remaining(self) -> int:
        return self.volume - self.filled_qty

    @property
    def cost(self) -> Decimal:
        """What filling the rest at the current price costs (a buy) or pays (a sell)."""
        return self.price * self.remaining

    @property
    def reserve_price(self) -> Decimal:
        """What a buy sets aside per share: its limit (it never fills above it), else the higher of the current
        price and its stop (a buy stop fills at a close at or above the stop)."""
        if self.limit_price is not None:
            return self.limit_price
        return self.price if self.stop_price is None else max(self.price, self.stop_price)

    @property
    def most_it_may_cost(self) -> Decimal:
        """What a buy must set aside at placement."""
        return self.reserve_price * self.volume

    @property
    def stop_reached(self) -> bool:
        if self.triggered or not self.type.has_stop or self.stop_price is None:
            return True
        return self.price >= self.stop_price if self.side == Side.BUY else self.price <= self.stop_price

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
    """An evaluation's outcome as deltas to apply: a fill of `filled` shares at `price` (0 when nothing filled),
    and the status the order is left in. A final status releases whatever the order still held."""

    status: TradeStatus
    reason: Reason | None
    total: Decimal | None  # what this fill cost or paid
    balance: Decimal
    reserved_cash: Decimal
    quantity: int
    reserved_quantity: int
    stock_volume: int
    # The position's average entry price afterwards, and a settled sell's realized P/L.
    average_entry_price: Decimal
    realized_pl: Decimal | None = None  # this fill's, a sell's
    filled: int = 0
    price: Decimal | None = None
    triggered: bool = False  # the order's stop is reached (now or before)

    @property
    def changed(self) -> bool:
        """False when the order simply goes on resting as it was."""
        return self.status != TradeStatus.PENDING or self.filled > 0 or self.triggered


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
# this table) and in `refusal` below, which names the reason. Only the classic order (no time in force), which
# must fill whole when it is evaluated, is refused at placement for want of volume on offer; an order that may
# rest or fill in part waits for the volume.
LIMITS: dict[Side, tuple[tuple[str, str, Reason], ...]] = {
    Side.BUY: (("cost", "available_cash", Reason.INSUFFICIENT_FUNDS),
               ("volume", "stock_volume", Reason.INSUFFICIENT_VOLUME)),
    Side.SELL: (("volume", "available_shares", Reason.INSUFFICIENT_SHARES),),
}


def placement_limits(side: Side, *, whole_now: bool) -> tuple[tuple[str, str, Reason], ...]:
    """What placing an order checks: the classic order (which fills whole when first evaluated) all of LIMITS,
    any other not the volume on offer."""
    if whole_now:
        return LIMITS[side]
    return tuple(limit for limit in LIMITS[side] if limit[2] != Reason.INSUFFICIENT_VOLUME)


def order_problems(kind: OrderType, limit_price: Decimal | None, stop_price: Decimal | None,
                   time_in_force: TimeInForce | None) -> list[dict[str, str]]:
    """What an order type needs and refuses, each against the field it names: a limit price for limit and
    stop_limit, a stop price for stop and stop_limit, neither for market; a stop order rests until its stop is
    reached, so it takes day or gtc."""
    problems = []
    for name, value, needed in (("limit_price", limit_price, kind.has_limit),
                                ("stop_price", stop_price, kind.has_stop)):
        if needed and value is None:
            problems.append({"field": name, "message": f"a {kind} order needs {name}", "type": "missing"})
        elif not needed and value is not None:
            problems.append({"field": name, "message": f"a {kind} order takes no {name}", "type": "extra_forbidden"})
    if stop_price is not None and stop_price <= 0:
        problems.append({"field": "stop_price", "message": "must be > 0", "type": "greater_than"})
    if kind.has_stop and (time_in_force is None or not time_in_force.rests):
        problems.append({"field": "time_in_force", "message": f"a {kind} order rests until its stop is reached: "
                         "time_in_force must be day or gtc", "type": "enum"})
    return problems


def refusal(side: Side, volume: int, cost: Decimal, available_cash: Decimal, available_shares: int,
            stock_volume: int, time_in_force: TimeInForce | None = None) -> Reason | None:
    """Why an order cannot be placed from what is available, or None if it can."""
    amounts: dict[str, Decimal | int] = {"volume": volume, "cost": cost, "available_cash": available_cash,
                                         "available_shares": available_shares, "stock_volume": stock_volume}
    for needed, cover, reason in placement_limits(side, whole_now=time_in_force is None):
        if amounts[needed] > amounts[cover]:
            return reason
    return None


def pre_check(order: Order, account: Account) -> Reason | None:
    """The broker's buying-power check at placement, against what open orders have not set aside. A limit
    buy needs its limit x volume; whether the limit is met is decided when the order is evaluated."""
    return refusal(
        order.side,
        order.volume,
        order.most_it_may_cost,
        account.balance - account.reserved_cash,
        account.quantity - account.reserved_quantity,
        account.stock_volume,
        order.time_in_force,
    )


def reservation(order: Order) -> tuple[Decimal, int]:
    """Cash and shares an accepted order sets aside until it is final."""
    return (order.most_it_may_cost, 0) if order.side == Side.BUY else (Decimal("0"), order.volume)


def evaluate(order: Order, account: Account, now: datetime | None = None) -> Decision:
    """An open order against the market now (the market is open): expire a `day` order past its session, trigger
    a stop whose stop a close reached, and fill what the limit, the volume on offer and the account allow, at
    the current close. What cannot fill now rests (day, gtc), is canceled (ioc, fok) or, for the classic order,
    rejected; ioc cancels what it did not fill, fok and the classic order fill whole or not at all."""
    if order.time_in_force == TimeInForce.DAY and order.expires_at is not None and now is not None \
            and now >= order.expires_at:
        return expire(order, account)
    if not order.stop_reached:
        return _rest(order, account, triggered=False)
    triggered = order.type.has_stop
    if not order.limit_met:
        return _unfillable(order, account, Reason.LIMIT_NOT_MET, triggered)
    fillable, short = _fillable(order, account)
    if order.time_in_force in (None, TimeInForce.FOK) and fillable < order.remaining:
        # Filled whole or not at all; named as the placement check names it, money first.
        funds_short = order.side == Side.BUY and _affordable(order, account) < order.remaining
        return _unfillable(order, account, Reason.INSUFFICIENT_FUNDS if funds_short else short or
                           Reason.INSUFFICIENT_VOLUME, triggered)
    if fillable == 0:
        return _unfillable(order, account, short or Reason.INSUFFICIENT_VOLUME, triggered)
    return _fill(order, account, fillable, short, triggered)


def _affordable(order: Order, account: Account) -> int:
    """How many shares the account's cash (this order's reservation included) pays for at the current price."""
    cash = account.balance - account.reserved_cash + order.reserved_cash
    if order.price == 0:
        return order.remaining
    return max(0, int((cash / order.price).to_integral_value(ROUND_FLOOR)))


def _fillable(order: Order, account: Account) -> tuple[int, Reason | None]:
    """How much of the rest can fill now, and what stops the rest (None: nothing does)."""
    if order.side == Side.SELL:
        held = account.quantity - account.reserved_quantity + order.reserved_quantity
        return (order.remaining, None) if held >= order.remaining else (0, Reason.INSUFFICIENT_SHARES)
    affordable = _affordable(order, account)
    if affordable < min(order.remaining, account.stock_volume):
        return affordable, Reason.INSUFFICIENT_FUNDS
    if account.stock_volume < order.remaining:
        return max(0, account.stock_volume), Reason.INSUFFICIENT_VOLUME
    return order.remaining, None


def _fill(order: Order, account: Account, quantity: int, short: Reason | None, triggered: bool) -> Decision:
    cost = order.price * quantity
    last = quantity == order.remaining
    # What the fill frees of the reservation: its share of it, all of it with the last fill or when ioc cancels
    # the rest. A reservation is a whole number of cents per share, so the shares are exact.
    ends_here = last or order.time_in_force == TimeInForce.IOC
    if order.side == Side.BUY:
        with localcontext() as exact:
            exact.prec = 60
            share = (order.reserved_cash * quantity / order.remaining).quantize(Decimal("0.01"))
        # A market or stop buy may fill above what it set aside per share: it then keeps no more than the cash
        # the fill left beside what the user's other orders hold.
        room = account.balance - cost - (account.reserved_cash - order.reserved_cash)
        kept = Decimal("0") if ends_here else max(Decimal("0"), min(order.reserved_cash - share, room))
        freed_cash, freed_shares = order.reserved_cash - kept, 0
        average = average_after_buy(account.average_entry_price, account.quantity, order.price, quantity)
        realized = None
        sign = 1
    else:
        freed_cash, freed_shares = Decimal("0"), order.reserved_quantity if ends_here else quantity
        average = account.average_entry_price if account.quantity - quantity > 0 else Decimal("0")
        realized = realized_pl(account.average_entry_price, order.price, quantity)
        sign = -1
    if last:
        status, reason = TradeStatus.SETTLED, None
    elif order.time_in_force == TimeInForce.IOC:
        status, reason = TradeStatus.CANCELED, short
    else:
        status, reason = TradeStatus.PENDING, None
    return Decision(
        status=status,
        reason=reason,
        total=cost,
        balance=-sign * cost,
        reserved_cash=-freed_cash,
        quantity=sign * quantity,
        reserved_quantity=-freed_shares,
        stock_volume=-sign * quantity,
        average_entry_price=average,
        realized_pl=realized,
        filled=quantity,
        price=order.price,
        triggered=triggered,
    )


def _unfillable(order: Order, account: Account, reason: Reason, triggered: bool) -> Decision:
    """Nothing fills now: a resting order waits; ioc and fok are canceled; the classic order is rejected."""
    if order.time_in_force is not None and order.time_in_force.rests:
        return _rest(order, account, triggered)
    status = TradeStatus.REJECTED if order.time_in_force is None else TradeStatus.CANCELED
    return replace(_released(status, reason, order, account), triggered=triggered)


def _rest(order: Order, account: Account, triggered: bool) -> Decision:
    return Decision(TradeStatus.PENDING, None, None, Decimal("0"), Decimal("0"), 0, 0, 0,
                    account.average_entry_price, triggered=triggered and not order.triggered)


def cancel(order: Order, account: Account) -> Decision:
    """An open order withdrawn by its owner: what it still holds is released; its fills stand."""
    return _released(TradeStatus.CANCELED, None, order, account)


def expire(order: Order, account: Account) -> Decision:
    """A `day` order past its session's close."""
    return _released(TradeStatus.EXPIRED, None, order, account)


def replaced(order: Order, account: Account) -> Decision:
    """An open order another takes the place of; its reservation moves to that one."""
    return _released(TradeStatus.REPLACED, None, order, account)


def _released(status: TradeStatus, reason: Reason | None, order: Order, account: Account) -> Decision:
    return Decision(status, reason, None, Decimal("0"), -order.reserved_cash, 0, -order.reserved_quantity, 0,
                    account.average_entry_price)


def ensure_trading(suspended: bool) -> None:
    """An account whose owner suspended its trading takes no new order, by placement, close or replace."""
    if suspended:
        from chalicelib.domain.errors import Refused

        raise Refused(Reason.TRADING_SUSPENDED, "trading is suspended on this account by its owner; setting "
                      "suspend_trade to false (PATCH /v2/account/configurations) lifts it", field="account")
