"""The client-server channel (federation/channel.py): what only the two ends of a round read is
authenticated with a per-round, per-client AES-GCM tag instead of a signature, and nobody else
- another client, a network attacker, an earlier round - can produce or reuse one."""

import pickle

import pytest

from federation.channel import MAC_LEN, ChannelKey
from federation.errors import ProtocolError
from federation.secagg_messages import encode_round_start, encode_shares
from federation.wire import HEADER, HEADER_LEN
from tests.unit.test_secagg import Harness


def _relabel(msg: bytes, sender: int) -> bytes:
    magic, version, mtype, rnd, _, ctx = HEADER.unpack_from(msg, 0)
    return HEADER.pack(magic, version, mtype, rnd, sender, ctx) + msg[HEADER_LEN:]


def test_a_channel_tag_covers_every_byte_and_the_sender():
    h = Harness(n=5, d=16, t=3)
    h.advertise()
    h.share()
    good = h.clients[1].masked_input(h.routing[1])
    # One flipped bit anywhere past the header's checked fields (vector, peer list, nonce,
    # tag) is refused.
    for pos in (HEADER_LEN, HEADER_LEN + 7, len(good) - MAC_LEN - 1, len(good) - MAC_LEN,
                len(good) - 1):
        bad = bytearray(good)
        bad[pos] ^= 1
        with pytest.raises(ProtocolError, match="bad channel tag"):
            h.server.receive(bytes(bad))
    # Client 1's message presented as client 2's: client 1 holds no key of client 2's channel.
    with pytest.raises(ProtocolError, match="bad channel tag"):
        h.server.receive(_relabel(good, 2))
    h.server.receive(good)
    assert h.server.rejected == 6


def test_one_client_cannot_forge_another_clients_channel_messages():
    h = Harness(n=5, d=16, t=3)
    h.advertise()
    shares = {i: h.clients[i].share_keys(h.key_list[i]) for i in range(5)}
    # Client 1 writes a SHARES message "from" client 2 on its own channel.
    forged = encode_shares(h.clients[1]._channel, h.params, 2, h.server._context, {})
    with pytest.raises(ProtocolError, match="bad channel tag"):
        h.server.receive(forged)
    for msg in shares.values():
        h.server.receive(msg)
    assert sorted(h.server.route_shares()) == [0, 1, 2, 3, 4]


def test_channel_keys_are_per_client_per_round_and_equal_at_both_ends():
    h = Harness(n=4, d=8, t=3)
    h.advertise()
    probe = b"x" * 40
    for i in range(4):
        sealed = h.clients[i]._channel.seal(probe)
        assert bytes(h.server._channels[i].open(sealed, f"client {i}")) == probe
        for j in set(range(4)) - {i}:
            with pytest.raises(ProtocolError):
                h.server._channels[j].open(sealed, f"client {j}")
    # The same identities in another round (same round number: the trainer restarts at 1)
    # get other channel keys: a tagged message of the earlier round does not open.
    again = Harness(n=4, d=8, t=3, ids=h.ids)
    again.advertise()
    with pytest.raises(ProtocolError):
        again.server._channels[0].open(h.clients[0]._channel.seal(probe), "client 0")


def test_a_client_that_did_not_advertise_has_no_channel():
    h = Harness(n=4, d=8, t=3)
    h.advertise(skip=(3,))
    h.clients[3].advertise(h.start)  # its advertisement never reached the server
    msg = encode_shares(h.clients[3]._channel, h.params, 3, h.server._context, {})
    with pytest.raises(ProtocolError, match="no channel"):
        h.server.receive(msg)
    assert h.server._channels.keys() == {0, 1, 2}


def test_the_servers_round_key_is_signed_and_checked():
    h = Harness(n=4, d=8, t=3)
    start = h.server.start()
    # e_pk is inside the server's signature: replacing it breaks the signature.
    bad = bytearray(start)
    bad[HEADER_LEN + 32] ^= 1
    with pytest.raises(ProtocolError, match="bad signature"):
        h.clients[0].advertise(bytes(bad))
    # A (malicious) server that signs a small-order round key gets a clean refusal.
    zero_key = encode_round_start(h.ids.server, h.params, bytes(32), bytes(32))
    with pytest.raises(ProtocolError, match="key agreement failed"):
        h.clients[0].advertise(zero_key)
    assert h.clients[0].stage == "advertise"
    h.clients[0].advertise(start)  # the refusals changed nothing


def test_a_channel_key_stays_secret():
    key = ChannelKey(bytes(32))
    assert "secret" in repr(key) and "\\x00" not in repr(key)
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(ValueError):
        ChannelKey(b"short")
    with pytest.raises(ProtocolError, match="too short"):
        key.open(b"x" * 10, "client 0")
