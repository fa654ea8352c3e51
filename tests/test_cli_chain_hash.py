"""The CLI's verdict hash (signoff_cli.chain, no Django) is the server's (reviews.services.chain.verdict_hash) for
any verdict, computed from what the API sends: the JSON of VerdictSerializer as DRF renders it."""

import datetime
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

from core.models import User
from reviews.api.serializers import VerdictSerializer
from reviews.models import Verdict
from reviews.services.chain import verdict_hash as server_hash
from signoff_cli.chain import GENESIS_HASH, chain_first_break, verdict_hash

# Evidence is the campaign's results frozen at sign-off: nested JSON with floats, nulls, unicode text.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
MOMENTS = st.datetimes(
    min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2100, 1, 1), timezones=st.just(datetime.UTC)
)


def as_the_api_sends_it(verdict: Verdict) -> dict:
    """Through the serializer and DRF's JSON renderer, then parsed as the CLI parses a response."""
    return json.loads(JSONRenderer().render(VerdictSerializer(verdict).data))


def unsaved_verdict(**fields) -> Verdict:
    verdict = Verdict(
        campaign_id=fields.pop("campaign", 7), signer=User(username=fields.pop("signer", "ana")), **fields
    )
    verdict.hash = server_hash(verdict=verdict)
    return verdict


@settings(max_examples=150, deadline=None)
@given(
    evidence=JSON,
    rationale=st.text(),
    signer=st.text(min_size=1, max_size=20),
    signed_at=MOMENTS,
    decision=st.sampled_from(["approve", "reject"]),
    campaign=st.integers(min_value=1, max_value=2**63 - 1),
)
def test_the_cli_computes_the_servers_hash_from_the_api_fields(
    evidence, rationale, signer, signed_at, decision, campaign
):
    verdict = unsaved_verdict(
        campaign=campaign,
        signer=signer,
        decision=decision,
        rationale=rationale,
        signed_at=signed_at,
        evidence=evidence,
        previous_hash=GENESIS_HASH,
    )
    sent = as_the_api_sends_it(verdict)

    assert verdict_hash(sent) == verdict.hash


def test_a_time_with_no_microseconds_and_one_in_another_zone_hash_as_the_server_stored_them():
    """Python's isoformat drops zero microseconds; the API may write UTC as Z: the hash is over the server's form."""
    for moment in (
        datetime.datetime(2026, 12, 6, 22, 0, 0, tzinfo=datetime.UTC),
        datetime.datetime(2026, 12, 6, 22, 0, 0, 1, tzinfo=datetime.UTC),
    ):
        verdict = unsaved_verdict(
            decision="approve", rationale="r", signed_at=moment, evidence={}, previous_hash=GENESIS_HASH
        )
        sent = as_the_api_sends_it(verdict)
        assert sent["signed_at"].endswith("Z")
        assert verdict_hash(sent) == verdict.hash
        shifted = {**sent, "signed_at": moment.astimezone(datetime.timezone(datetime.timedelta(hours=2))).isoformat()}
        assert verdict_hash(shifted) == verdict.hash  # the same instant, written in another zone


def chain_of(n: int) -> list[dict]:
    verdicts, previous = [], GENESIS_HASH
    for k in range(1, n + 1):
        verdict = unsaved_verdict(
            campaign=k,
            decision="reject",
            rationale=f"no {k}",
            signed_at=datetime.datetime(2026, 12, k, tzinfo=datetime.UTC),
            evidence={"win_rate": 0.1 * k},
            previous_hash=previous,
        )
        verdict.pk = 10 + k
        verdicts.append(as_the_api_sends_it(verdict))
        previous = verdict.hash
    return verdicts


def test_the_first_broken_link_is_named_by_verdict_and_position():
    chain = chain_of(4)
    assert chain_first_break(chain) is None

    edited = [dict(v) for v in chain]
    edited[2]["evidence"] = {"win_rate": 0.9}
    assert str(chain_first_break(edited)).startswith(
        "verdict 13 (number 3 in the chain): its content does not match its hash"
    )

    cut = chain[:1] + chain[2:]
    assert str(chain_first_break(cut)).startswith(
        f"verdict 13 (number 2 in the chain): it links to {chain[1]['hash'][:12]}…, not to verdict 11's hash"
    )

    reordered = [chain[1], chain[0], *chain[2:]]
    assert "not to 64 zeros, as the first verdict must" in str(chain_first_break(reordered))
