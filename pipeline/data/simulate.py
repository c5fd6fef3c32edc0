"""A simulated card-transaction stream with labelled, documented fraud patterns.

`simulate()` is the default data source of every command and the fixture factory of the tests. It is
fully vectorised (one `numpy.random.default_rng(seed)`), so the same arguments give the same bytes.

The world
---------
- **Customers** (cards) have a home country and a position inside it, a spending level and a
  spending variability, an activity rate, a propensity to shop online, to withdraw cash and to shop
  at night, a set of favourite nearby merchants, and sometimes one trip abroad (a few days during
  which their card-present and ATM transactions happen in another country).
- **Merchants / terminals** are physical shops (card present), online shops (some abroad: legitimate
  cross-border online purchases are common) or ATMs. Each has a category (grocery, restaurants, fuel,
  retail, electronics, jewelry, hotels, ..., online_retail, digital_goods, subscriptions, gaming,
  travel_booking, electronics_online, atm_withdrawal), a country and a price level.
- **Rhythm**: a daily profile (quiet nights, lunch and evening peaks), a weekly one (busier Fridays
  and Saturdays, quiet Sundays), and sessions (some purchases follow another one of the same
  customer within about half an hour).
- **Amount** = customer level x category price x merchant price level x log-normal noise of the
  customer's variability; about 0.6 % of legitimate purchases are large (x3-x12); digital goods,
  subscriptions and gaming often cost 0.99-4.99; ATM withdrawals are multiples of 10.

Fraud patterns
--------------
Fraudulent rows are *extra* rows on the victim's `customer_id`, interleaved in time with the
victim's legitimate rows; `fraud_pattern` names the pattern (`"legit"` otherwise). The fraud rows
are split between the patterns by `PATTERN_SHARES`.

1. ``stolen_card``: a lost or stolen card used in a burst of 5-25 transactions over an hour or
   two (about 6 minutes apart) at shops the customer never visits, favouring electronics, jewelry
   and retail, with cash withdrawals mixed in (20 %); mostly in the home country, sometimes abroad
   (a cloned card, 15 %); amounts about three times the customer's usual. *Trace*: a high
   customer count over the last day against a normal 7/30-day count, seconds-to-minutes since the
   previous transaction, a high one-day mean amount and amount / customer-mean ratio, ATM use.
2. ``compromised_terminal``: a shop terminal is compromised for 10-30 days; during that window
   about 1.5 extra transactions a day of different cards (mostly of people living in that
   country) run through it, at about twice the usual amount. *Trace*: the merchant's counts rise
   and, once labels arrive after the 7-day label delay, its recent fraud rate is high; each
   victim's amount ratio is moderately high. Rows in the first week of a window are hard to catch
   (their merchant's labels are not known yet), as in real life.
3. ``account_takeover``: a takeover of the online account: 1-4 large online purchases (about 10x
   the customer's spending level) 40 minutes or so apart, 80 % of them starting between 0h and
   6h, mostly at foreign online shops of electronics, travel and retail. *Trace*: a high amount /
   customer-mean ratio, night hours, the online channel, country != customer_country, often a
   long time since the previous transaction.
4. ``card_testing``: a card number being tested, at any hour: several tiny online amounts
   (0.50-3.00) a minute or two apart at a few small digital-goods shops that testers abuse,
   followed within the hour by one large online purchase (about 6x the spending level).
   *Trace*: tiny online amounts in a burst, seconds between transactions, a high one-day count, a
   very low amount ratio, abused merchants with a high delayed fraud rate, then a large ratio.

Legitimate look-alikes: 12 % of legitimate purchases follow another within about half an hour,
heavy customers make several purchases a day, 30 % of customers spend a few days abroad, a fifth
of the legitimate rows are cross-border (trips and foreign online shops), 12 % of customers are
night owls, 0.6 % of purchases are large, and digital goods often cost 0.99-4.99.

None of the traces is unique to fraud. On 300,000 rows, XGBoost on the causal window features of
`pipeline.features` reaches an average precision of about 0.7 with stratified folds and about 0.55
on a later month (temporal split), far from a trivial 1.0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.errors import ConfigError

SECONDS_PER_DAY = 86_400

FRAUD_PATTERNS: tuple[str, ...] = (
    "stolen_card",
    "compromised_terminal",
    "account_takeover",
    "card_testing",
)
"""The fraud pattern names, as written in the `fraud_pattern` column."""

PATTERN_SHARES: dict[str, float] = {
    "stolen_card": 0.30,
    "compromised_terminal": 0.25,
    "account_takeover": 0.20,
    "card_testing": 0.25,
}
"""The share of fraud rows each pattern gets."""

COLUMNS: tuple[str, ...] = (
    "transaction_id",
    "timestamp",
    "customer_id",
    "merchant_id",
    "amount",
    "merchant_category",
    "channel",
    "country",
    "customer_country",
    "is_fraud",
    "fraud_pattern",
)
"""The columns of a simulated frame, in order."""

CHANNELS: tuple[str, ...] = ("card_present", "online", "atm")

# Home countries of the cards (an issuer with mostly domestic customers).
_HOME = {
    "FR": 0.55,
    "BE": 0.10,
    "DE": 0.08,
    "ES": 0.07,
    "IT": 0.06,
    "NL": 0.05,
    "GB": 0.05,
    "US": 0.04,
}
# Countries with shops and ATMs: the home countries plus travel destinations.
_TRAVEL = {
    "ES": 0.18,
    "IT": 0.14,
    "PT": 0.10,
    "GR": 0.08,
    "DE": 0.07,
    "GB": 0.08,
    "US": 0.08,
    "CH": 0.06,
    "HR": 0.06,
    "MA": 0.05,
    "TH": 0.05,
    "FR": 0.03,
    "BE": 0.01,
    "NL": 0.01,
}
# Countries of online shops.
_ONLINE_COUNTRIES = {
    "FR": 0.30,
    "IE": 0.13,
    "LU": 0.08,
    "NL": 0.08,
    "US": 0.15,
    "GB": 0.08,
    "DE": 0.06,
    "CN": 0.07,
    "RO": 0.025,
    "BR": 0.025,
}
_COUNTRIES: tuple[str, ...] = tuple(sorted(set(_HOME) | set(_TRAVEL) | set(_ONLINE_COUNTRIES)))
_CODE = {c: i for i, c in enumerate(_COUNTRIES)}

# (category, share among the merchants of its kind, price multiplier)
_PHYSICAL = (
    ("grocery", 0.26, 1.0),
    ("restaurants", 0.18, 0.8),
    ("fuel", 0.10, 1.3),
    ("retail", 0.14, 1.6),
    ("pharmacy", 0.07, 0.6),
    ("transport", 0.07, 0.4),
    ("entertainment", 0.05, 1.0),
    ("hotels", 0.04, 4.0),
    ("electronics", 0.05, 4.5),
    ("jewelry", 0.04, 6.0),
)
_ONLINE = (
    ("online_retail", 0.38, 1.8),
    ("digital_goods", 0.22, 0.25),
    ("subscriptions", 0.14, 0.45),
    ("gaming", 0.10, 0.5),
    ("travel_booking", 0.08, 8.0),
    ("electronics_online", 0.08, 4.5),
)
_ATM = (("atm_withdrawal", 1.0, 3.0),)
_CATEGORIES: tuple[str, ...] = tuple(c[0] for c in (*_PHYSICAL, *_ONLINE, *_ATM))
_CAT = {c: i for i, c in enumerate(_CATEGORIES)}
_PRICE = np.array([c[2] for c in (*_PHYSICAL, *_ONLINE, *_ATM)])
_MICRO_CATEGORIES = ("digital_goods", "subscriptions", "gaming")
_MICRO_PRICES = np.array([0.99, 1.99, 2.99, 4.99])

# Relative attractiveness of a category to each fraud pattern.
_STOLEN_PREF = {"electronics": 5.0, "jewelry": 5.0, "retail": 3.0, "fuel": 2.0, "grocery": 1.0}
_TAKEOVER_PREF = {
    "electronics_online": 5.0,
    "travel_booking": 3.0,
    "online_retail": 2.5,
    "digital_goods": 1.5,
    "gaming": 1.0,
    "subscriptions": 0.2,
}
_CASHOUT_PREF = {"electronics_online": 4.0, "online_retail": 3.0, "travel_booking": 2.0}

# Hour-of-day profile of legitimate purchases (relative weights, 0h..23h).
_HOURS = np.array(
    [0.25, 0.12, 0.07, 0.05, 0.05, 0.12, 0.35, 0.8, 1.2, 1.4, 1.5, 1.7, 2.2, 2.0, 1.5, 1.4, 1.5,
     1.8, 2.1, 2.0, 1.6, 1.1, 0.7, 0.45]
)  # fmt: skip
_HOURS_P = _HOURS / _HOURS.sum()
# Night hours of night owls and of account takeovers.
_NIGHT_HOURS = np.array([22, 23, 0, 1, 2, 3, 4, 5])
_TAKEOVER_HOURS = np.array([0, 1, 2, 3, 4, 5])
# Monday..Sunday weights.
_WEEKDAYS = np.array([0.95, 0.95, 1.0, 1.0, 1.15, 1.2, 0.75])

N_FAVOURITES = 10
SESSION_SHARE = 0.12
"""The share of legitimate purchases that follow another of the same customer within ~30 min."""


def _probabilities(table: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    codes = np.array([_CODE[c] for c in table], dtype=np.int64)
    p = np.array(list(table.values()), dtype=float)
    return codes, p / p.sum()


def _check_arguments(n_rows: int, n_days: int, seed: int, fraud_rate: float, start: object) -> int:
    """Validate the arguments of `simulate`; returns the start of the stream in nanoseconds."""

    def _is_int(v: object) -> bool:
        return isinstance(v, int | np.integer) and not isinstance(v, bool)

    if not _is_int(n_rows) or n_rows < 100:
        raise ConfigError(f"simulate: n_rows must be an integer >= 100, got {n_rows!r}")
    if not _is_int(n_days) or n_days < 1:
        raise ConfigError(f"simulate: n_days must be an integer >= 1, got {n_days!r}")
    if not _is_int(seed) or seed < 0:
        raise ConfigError(f"simulate: seed must be a non-negative integer, got {seed!r}")
    if (
        not isinstance(fraud_rate, int | float | np.floating)
        or isinstance(fraud_rate, bool)
        or not math.isfinite(fraud_rate)
        or not 0 < fraud_rate < 0.5
    ):
        raise ConfigError(
            f"simulate: fraud_rate must be a number with 0 < fraud_rate < 0.5, got {fraud_rate!r}"
        )
    try:
        ts = pd.Timestamp(start)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"simulate: start must be a date such as '2026-01-01', got {start!r} ({exc})"
        ) from None
    if ts is pd.NaT:
        raise ConfigError(f"simulate: start must be a date such as '2026-01-01', got {start!r}")
    if ts.tzinfo is not None:
        ts = ts.tz_convert(None)
    return int(ts.normalize().as_unit("ns").value)


def _split_counts(total: int, shares: np.ndarray) -> np.ndarray:
    """Integers proportional to `shares` summing exactly to `total` (largest remainder)."""
    raw = shares / shares.sum() * total
    counts = np.floor(raw).astype(np.int64)
    rest = total - int(counts.sum())
    if rest:
        counts[np.argsort(-(raw - counts), kind="stable")[:rest]] += 1
    return counts


def _pick(rng: np.random.Generator, candidates: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """For each row of `candidates` (n, k), one entry with probability proportional to `weights`."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(candidates)) * cum[:, -1]
    col = (cum < u[:, None]).sum(axis=1)
    col = np.minimum(col, candidates.shape[1] - 1)
    return candidates[np.arange(len(candidates)), col]


def _pref_weights(categories: np.ndarray, pref: dict[str, float], default: float) -> np.ndarray:
    table = np.full(len(_CATEGORIES), default)
    for name, w in pref.items():
        table[_CAT[name]] = w
    return table[categories]


@dataclass
class _World:
    """Customers and merchants; merchant arrays cover physical shops, online shops and ATMs."""

    home: np.ndarray  # customer -> country code
    level: np.ndarray  # customer spending level
    spread: np.ndarray  # customer log-amount standard deviation
    activity: np.ndarray  # customer activity probabilities (sum 1)
    p_online: np.ndarray
    p_atm: np.ndarray
    p_night: np.ndarray
    trip_start: np.ndarray  # seconds; trip_end <= trip_start when no trip
    trip_end: np.ndarray
    trip_country: np.ndarray
    favourites: np.ndarray  # (customers, N_FAVOURITES) physical merchant indices
    m_country: np.ndarray  # merchant -> country code
    m_category: np.ndarray  # merchant -> category code
    m_channel: np.ndarray  # merchant -> channel code
    m_price: np.ndarray  # merchant price level
    phys_start: np.ndarray  # country -> first physical merchant index
    phys_count: np.ndarray  # country -> number of physical merchants
    atm_start: np.ndarray
    atm_count: np.ndarray
    online: np.ndarray  # online merchant indices
    online_p: np.ndarray  # their popularity (sum 1)

    def random_physical(self, rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
        return self.phys_start[country] + (
            rng.random(len(country)) * self.phys_count[country]
        ).astype(np.int64)

    def random_atm(self, rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
        return self.atm_start[country] + (
            rng.random(len(country)) * self.atm_count[country]
        ).astype(np.int64)


def _sorted_block(
    rng: np.random.Generator, n: int, countries: np.ndarray, p: np.ndarray, minimum: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`n` or more places spread over `countries` (at least `minimum` each), sorted by country.

    Returns the country of each place and, per country code, the first index and the count.
    """
    counts = np.maximum(minimum, _split_counts(n, p))
    country = np.repeat(np.sort(countries), counts[np.argsort(countries, kind="stable")])
    count = np.bincount(country, minlength=len(_COUNTRIES)).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    return country, start, count


def _build_world(rng: np.random.Generator, n_legit: int, n_days: int) -> _World:
    n_customers = max(20, round(n_legit / (0.6 * n_days)))
    home_codes, home_p = _probabilities(_HOME)
    travel_codes, travel_p = _probabilities(_TRAVEL)
    online_codes, online_cp = _probabilities(_ONLINE_COUNTRIES)

    # Physical shops: mostly where customers live, some in travel destinations.
    shop_countries = np.union1d(home_codes, travel_codes)
    shop_p = np.zeros(len(_COUNTRIES))
    shop_p[home_codes] += 0.85 * home_p
    shop_p[travel_codes] += 0.15 * travel_p
    n_phys = max(6 * len(shop_countries), n_customers // 4)
    phys_country, phys_start, phys_count = _sorted_block(
        rng, n_phys, shop_countries, shop_p[shop_countries], 4
    )
    n_phys = len(phys_country)
    phys_cat_p = np.array([c[1] for c in _PHYSICAL])
    phys_cat = rng.choice(len(_PHYSICAL), n_phys, p=phys_cat_p / phys_cat_p.sum())

    n_online = max(30, n_customers // 25)
    online_country = rng.choice(online_codes, n_online, p=online_cp)
    online_cat_p = np.array([c[1] for c in _ONLINE])
    online_cat = len(_PHYSICAL) + rng.choice(
        len(_ONLINE), n_online, p=online_cat_p / online_cat_p.sum()
    )

    n_atm = max(2 * len(shop_countries), n_customers // 40)
    atm_country, atm_start, atm_count = _sorted_block(
        rng, n_atm, shop_countries, shop_p[shop_countries], 2
    )
    n_atm = len(atm_country)

    m_country = np.concatenate([phys_country, online_country, atm_country])
    m_category = np.concatenate(
        [phys_cat, online_cat, np.full(n_atm, _CAT["atm_withdrawal"], dtype=np.int64)]
    )
    m_channel = np.repeat(np.array([0, 1, 2], dtype=np.int8), [n_phys, n_online, n_atm])
    m_price = rng.lognormal(0.0, 0.25, len(m_country))
    online = np.arange(n_phys, n_phys + n_online)
    popularity = 1.0 / (1.0 + rng.permutation(n_online)) ** 0.9
    online_p = popularity / popularity.sum()

    # Customers.
    home = rng.choice(home_codes, n_customers, p=home_p)
    level = rng.lognormal(math.log(30.0), 0.5, n_customers)
    spread = rng.uniform(0.3, 0.8, n_customers)
    activity = rng.lognormal(0.0, 0.7, n_customers)
    activity /= activity.sum()
    p_online = rng.beta(2.0, 6.0, n_customers)
    p_atm = rng.beta(1.2, 18.0, n_customers)
    owl = rng.random(n_customers) < 0.12
    p_night = np.where(
        owl, rng.uniform(0.08, 0.25, n_customers), rng.uniform(0.0, 0.02, n_customers)
    )
    has_trip = rng.random(n_customers) < 0.3
    trip_start = rng.integers(0, n_days * SECONDS_PER_DAY, n_customers)
    trip_len = rng.integers(2, 11, n_customers) * SECONDS_PER_DAY
    trip_end = np.where(has_trip, trip_start + trip_len, trip_start)
    trip_country = rng.choice(travel_codes, n_customers, p=travel_p)
    same = trip_country == home
    trip_country[same] = travel_codes[
        (np.searchsorted(travel_codes, trip_country[same]) + 1) % len(travel_codes)
    ]

    # Favourite shops: neighbours of the customer's position among the home country's shops.
    count = phys_count[home]
    pos = phys_start[home] + (rng.random(n_customers) * count).astype(np.int64)
    width = np.clip(count // 30, 2, 25)
    offsets = rng.integers(-width[:, None], width[:, None] + 1, (n_customers, N_FAVOURITES))
    lo = phys_start[home][:, None]
    favourites = np.clip(pos[:, None] + offsets, lo, lo + count[:, None] - 1)

    return _World(
        home=home,
        level=level,
        spread=spread,
        activity=activity,
        p_online=p_online,
        p_atm=p_atm,
        p_night=p_night,
        trip_start=trip_start,
        trip_end=trip_end,
        trip_country=trip_country,
        favourites=favourites,
        m_country=m_country,
        m_category=m_category,
        m_channel=m_channel,
        m_price=m_price,
        phys_start=phys_start,
        phys_count=phys_count,
        atm_start=atm_start + n_phys + n_online,
        atm_count=atm_count,
        online=online,
        online_p=online_p,
    )


def _times(
    rng: np.random.Generator, n: int, n_days: int, weekday0: int, hours_p: np.ndarray = _HOURS_P
) -> np.ndarray:
    """Seconds since the start: a day (weekly rhythm), an hour (daily rhythm), a second."""
    day_w = _WEEKDAYS[(weekday0 + np.arange(n_days)) % 7]
    day = rng.choice(n_days, n, p=day_w / day_w.sum())
    hour = rng.choice(24, n, p=hours_p)
    return day * SECONDS_PER_DAY + hour * 3600 + rng.integers(0, 3600, n)


def _night_times(
    rng: np.random.Generator, n: int, n_days: int, hours: np.ndarray = _NIGHT_HOURS
) -> np.ndarray:
    day = rng.integers(0, n_days, n)
    hour = rng.choice(hours, n)
    return day * SECONDS_PER_DAY + hour * 3600 + rng.integers(0, 3600, n)


def _amounts(
    rng: np.random.Generator, w: _World, cust: np.ndarray, merch: np.ndarray, boost: np.ndarray
) -> np.ndarray:
    """Amounts for (customer, merchant) pairs, multiplied by `boost`; ATM amounts in tens."""
    cat = w.m_category[merch]
    amount = (
        w.level[cust] * _PRICE[cat] * w.m_price[merch] * rng.lognormal(0.0, w.spread[cust]) * boost
    )
    atm = w.m_channel[merch] == 2
    amount[atm] = np.maximum(10.0, np.round(amount[atm] / 10.0) * 10.0)
    return amount


def _legit(
    rng: np.random.Generator, w: _World, n: int, n_days: int, weekday0: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    horizon = n_days * SECONDS_PER_DAY
    cust = rng.choice(len(w.home), n, p=w.activity)

    # When: daily and weekly rhythm, night owls, sessions of several purchases.
    t = _times(rng, n, n_days, weekday0)
    night = rng.random(n) < w.p_night[cust]
    t[night] = _night_times(rng, int(night.sum()), n_days)
    order = np.argsort(cust, kind="stable")
    follows = np.zeros(n, dtype=bool)
    follows[1:] = (cust[order][1:] == cust[order][:-1]) & (rng.random(n - 1) < SESSION_SHARE)
    gap = rng.exponential(1800.0, n).astype(np.int64) + 30
    base = t[order]
    new = base.copy()
    new[1:] = np.where(follows[1:], base[:-1] + gap[1:], base[1:])
    t[order] = np.minimum(new, horizon - 1)

    # Where: channel, then merchant (favourites, other local shops, trips abroad, online shops).
    u = rng.random(n)
    atm = u < w.p_atm[cust]
    online = ~atm & (u < w.p_atm[cust] + w.p_online[cust])
    present = ~atm & ~online
    in_trip = (t >= w.trip_start[cust]) & (t < w.trip_end[cust]) & ~online
    where = np.where(in_trip, w.trip_country[cust], w.home[cust])

    merch = np.empty(n, dtype=np.int64)
    rank_p = 1.0 / np.arange(1, N_FAVOURITES + 1)
    rank = rng.choice(N_FAVOURITES, n, p=rank_p / rank_p.sum())
    fav = present & ~in_trip & (rng.random(n) < 0.8)
    merch[fav] = w.favourites[cust[fav], rank[fav]]
    other = present & ~fav
    merch[other] = w.random_physical(rng, where[other])
    merch[atm] = w.random_atm(rng, where[atm])
    merch[online] = rng.choice(w.online, int(online.sum()), p=w.online_p)

    # How much: customer habits, occasional large purchases, micro-payments.
    boost = np.where(rng.random(n) < 0.006, rng.uniform(3.0, 12.0, n), 1.0)
    amount = _amounts(rng, w, cust, merch, boost)
    micro_cats = np.array([_CAT[c] for c in _MICRO_CATEGORIES])
    micro = np.isin(w.m_category[merch], micro_cats) & (rng.random(n) < 0.3)
    amount[micro] = rng.choice(_MICRO_PRICES, int(micro.sum()))
    return t, cust, merch, amount


def _incidents(
    rng: np.random.Generator, target: int, sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut `sizes` (one per candidate incident) so that they sum to exactly `target` rows.

    Returns per row: the incident index and the position inside the incident; and the sizes kept.
    """
    cum = np.cumsum(sizes)
    k = int(np.searchsorted(cum, target))
    kept = sizes[: k + 1].copy()
    kept[-1] -= int(cum[k]) - target
    incident = np.repeat(np.arange(len(kept)), kept)
    first = np.concatenate([[0], np.cumsum(kept)[:-1]])
    position = np.arange(target) - first[incident]
    return incident, position, kept


def _offsets(gaps: np.ndarray, incident: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Cumulative time offsets inside each incident (the first row of an incident at 0)."""
    gaps = np.where(position == 0, 0, gaps)
    cum = np.cumsum(gaps)
    first_rows = np.flatnonzero(position == 0)
    return cum - cum[first_rows][incident]


def _victims(rng: np.random.Generator, w: _World, k: int) -> np.ndarray:
    p = np.sqrt(w.activity)
    return rng.choice(len(w.home), k, p=p / p.sum())


def _stolen_card(
    rng: np.random.Generator, w: _World, target: int, n_days: int, weekday0: int
) -> tuple[np.ndarray, ...]:
    incident, position, kept = _incidents(rng, target, np.minimum(25, 5 + rng.poisson(6.0, target)))
    k = len(kept)
    victim = _victims(rng, w, k)
    t0 = _times(rng, k, n_days, weekday0)
    abroad = rng.random(k) < 0.15
    country = np.where(abroad, w.trip_country[victim], w.home[victim])
    t = t0[incident] + _offsets(
        rng.exponential(360.0, target).astype(np.int64) + 20, incident, position
    )
    cust = victim[incident]
    where = country[incident]
    atm = rng.random(target) < 0.2
    candidates = np.stack([w.random_physical(rng, where) for _ in range(3)], axis=1)
    weights = _pref_weights(w.m_category[candidates], _STOLEN_PREF, 0.5)
    merch = _pick(rng, candidates, weights)
    merch[atm] = w.random_atm(rng, where[atm])
    amount = _amounts(rng, w, cust, merch, rng.lognormal(1.1, 0.5, target))
    return t, cust, merch, amount


def _compromised_terminal(
    rng: np.random.Generator,
    w: _World,
    target: int,
    n_days: int,
    weekday0: int,
    traffic: np.ndarray,
) -> tuple[np.ndarray, ...]:
    # About 1.5 fraudulent transactions a day while the terminal is compromised, at a shop
    # of any size.
    window = rng.integers(10, 31, target)
    incident, _, kept = _incidents(rng, target, 3 + rng.poisson(1.5 * window))
    k = len(kept)
    physical = np.flatnonzero((w.m_channel == 0) & (traffic > 0))
    if len(physical) == 0:
        physical = np.flatnonzero(w.m_channel == 0)
    terminal = rng.choice(physical, k)
    first_day = rng.integers(0, max(1, n_days - 3), k)
    length = np.minimum(window[:k], n_days - first_day)
    day = first_day[incident] + (rng.random(target) * length[incident]).astype(np.int64)
    hour = rng.choice(24, target, p=_HOURS_P)
    t = day * SECONDS_PER_DAY + hour * 3600 + rng.integers(0, 3600, target)
    merch = terminal[incident]
    # Cards skimmed at a terminal mostly belong to people living in the terminal's country.
    by_country = np.argsort(w.home, kind="stable")
    count = np.bincount(w.home, minlength=len(_COUNTRIES))
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    country = w.m_country[merch]
    local = (rng.random(target) < 0.85) & (count[country] > 0)
    cust = rng.choice(len(w.home), target, p=w.activity)
    pos = first[country[local]] + (rng.random(int(local.sum())) * count[country[local]]).astype(
        np.int64
    )
    cust[local] = by_country[pos]
    amount = _amounts(rng, w, cust, merch, rng.lognormal(0.8, 0.5, target))
    return t, cust, merch, amount


def _account_takeover(
    rng: np.random.Generator, w: _World, target: int, n_days: int, weekday0: int
) -> tuple[np.ndarray, ...]:
    incident, position, kept = _incidents(rng, target, np.minimum(4, 1 + rng.poisson(0.8, target)))
    k = len(kept)
    victim = _victims(rng, w, k)
    t0 = np.where(
        rng.random(k) < 0.8,
        _night_times(rng, k, n_days, _TAKEOVER_HOURS),
        _times(rng, k, n_days, weekday0),
    )
    t = t0[incident] + _offsets(
        rng.exponential(2400.0, target).astype(np.int64) + 60, incident, position
    )
    cust = victim[incident]
    candidates = rng.choice(w.online, (target, 4), p=w.online_p)
    weights = _pref_weights(w.m_category[candidates], _TAKEOVER_PREF, 1.0) * np.where(
        w.m_country[candidates] != w.home[cust][:, None], 4.0, 1.0
    )
    merch = _pick(rng, candidates, weights)
    amount = w.level[cust] * rng.lognormal(math.log(10.0), 0.5, target)
    return t, cust, merch, amount


def _card_testing(
    rng: np.random.Generator, w: _World, target: int, n_days: int, weekday0: int
) -> tuple[np.ndarray, ...]:
    incident, position, kept = _incidents(rng, target, 3 + rng.poisson(3.0, target))
    k = len(kept)
    victim = _victims(rng, w, k)
    flat = np.full(24, 1.0 / 24)
    t0 = _times(rng, k, n_days, weekday0, flat)
    last = position == (kept[incident] - 1)
    last &= kept[incident] >= 2
    gaps = np.where(last, rng.exponential(2700.0, target) + 120, rng.exponential(90.0, target) + 5)
    t = t0[incident] + _offsets(gaps.astype(np.int64), incident, position)
    cust = victim[incident]

    # Testers abuse a few small digital-goods merchants.
    micro_cats = np.array([_CAT[c] for c in _MICRO_CATEGORIES])
    small_shops = w.online[np.isin(w.m_category[w.online], micro_cats)]
    if len(small_shops) == 0:
        small_shops = w.online
    n_abused = max(2, len(small_shops) // 12)
    abused = rng.choice(small_shops, min(n_abused, len(small_shops)), replace=False)
    merch = rng.choice(abused, target)
    amount = np.where(
        rng.random(target) < 0.6,
        rng.uniform(0.5, 3.0, target),
        rng.choice(np.array([0.5, 0.99, 1.0, 1.99, 2.0]), target),
    )
    n_last = int(last.sum())
    candidates = rng.choice(w.online, (n_last, 4), p=w.online_p)
    merch[last] = _pick(
        rng, candidates, _pref_weights(w.m_category[candidates], _CASHOUT_PREF, 0.3)
    )
    amount[last] = w.level[cust[last]] * rng.lognormal(math.log(6.0), 0.6, n_last)
    return t, cust, merch, amount


def simulate(
    n_rows: int = 300_000,
    *,
    n_days: int = 90,
    seed: int = 0,
    fraud_rate: float = 0.003,
    start: str = "2026-01-01",
) -> pd.DataFrame:
    """A simulated card-transaction stream of exactly `n_rows` rows over `n_days` days.

    Columns (in order): transaction_id int64 (0..n-1 in time order), timestamp datetime64[ns]
    (ascending), customer_id int64, merchant_id int64, amount float64 (> 0, 2 decimals),
    merchant_category, channel (card_present | online | atm), country (merchant country, ISO-2),
    customer_country (card's home country), is_fraud int8, fraud_pattern ("legit" or one of
    `FRAUD_PATTERNS`); the text columns have pandas' default string dtype. About
    `fraud_rate * n_rows` rows (at least one) are fraud. `start` is the first day (a date; the time of
    day is ignored). The same arguments always give the same frame. Raises `ConfigError` on an
    invalid argument.
    """
    start_ns = _check_arguments(n_rows, n_days, seed, fraud_rate, start)
    n_rows = int(n_rows)
    n_days = int(n_days)
    weekday0 = pd.Timestamp(start_ns).day_of_week
    rng = np.random.default_rng(int(seed))

    n_fraud = max(1, round(n_rows * float(fraud_rate)))
    n_legit = n_rows - n_fraud
    per_pattern = _split_counts(n_fraud, np.array([PATTERN_SHARES[p] for p in FRAUD_PATTERNS]))

    world = _build_world(rng, n_legit, n_days)
    parts = [_legit(rng, world, n_legit, n_days, weekday0)]
    traffic = np.bincount(parts[0][2], minlength=len(world.m_country)).astype(float)
    makers = {
        "stolen_card": lambda k: _stolen_card(rng, world, k, n_days, weekday0),
        "compromised_terminal": lambda k: _compromised_terminal(
            rng, world, k, n_days, weekday0, traffic
        ),
        "account_takeover": lambda k: _account_takeover(rng, world, k, n_days, weekday0),
        "card_testing": lambda k: _card_testing(rng, world, k, n_days, weekday0),
    }
    pattern_codes = [np.zeros(n_legit, dtype=np.int8)]
    for code, (name, count) in enumerate(zip(FRAUD_PATTERNS, per_pattern, strict=True), start=1):
        if count > 0:
            parts.append(makers[name](int(count)))
            pattern_codes.append(np.full(count, code, dtype=np.int8))

    horizon = n_days * SECONDS_PER_DAY
    t = np.clip(np.concatenate([p[0] for p in parts]).astype(np.int64), 0, horizon - 1)
    cust = np.concatenate([p[1] for p in parts]).astype(np.int64)
    merch = np.concatenate([p[2] for p in parts]).astype(np.int64)
    amount = np.maximum(0.01, np.round(np.concatenate([p[3] for p in parts]), 2))
    pattern = np.concatenate(pattern_codes)

    order = np.argsort(t, kind="stable")
    t, cust, merch, amount, pattern = (a[order] for a in (t, cust, merch, amount, pattern))

    # Public ids do not reveal how the world was built.
    customer_ids = rng.permutation(len(world.home)).astype(np.int64)
    merchant_ids = rng.permutation(len(world.m_country)).astype(np.int64)
    countries = np.array(_COUNTRIES, dtype=object)
    categories = np.array(_CATEGORIES, dtype=object)
    channels = np.array(CHANNELS, dtype=object)
    patterns = np.array(("legit", *FRAUD_PATTERNS), dtype=object)

    timestamps = (start_ns + t * 1_000_000_000).astype("datetime64[ns]")
    frame = pd.DataFrame(
        {
            "transaction_id": np.arange(n_rows, dtype=np.int64),
            "timestamp": pd.Series(timestamps, dtype="datetime64[ns]"),
            "customer_id": customer_ids[cust],
            "merchant_id": merchant_ids[merch],
            "amount": amount.astype(np.float64),
            "merchant_category": pd.Series(categories[world.m_category[merch]], dtype="str"),
            "channel": pd.Series(channels[world.m_channel[merch]], dtype="str"),
            "country": pd.Series(countries[world.m_country[merch]], dtype="str"),
            "customer_country": pd.Series(countries[world.home[cust]], dtype="str"),
            "is_fraud": (pattern > 0).astype(np.int8),
            "fraud_pattern": pd.Series(patterns[pattern], dtype="str"),
        },
        columns=list(COLUMNS),
    )
    return frame
