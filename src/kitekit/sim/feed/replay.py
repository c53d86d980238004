"""Recorded tick frames served again: each connection replays the recording from its first subscription on.

A connection gets, frame by frame and at the recorded pace (divided by ``speed``), the packets of the tokens
it subscribed. A packet recorded in a richer mode than the one subscribed is cut down to it, which is exact:
a quote packet is the first 44 bytes of a full one, an LTP packet the first 8 of any (§15.4). A packet
recorded in a poorer mode is sent as recorded. Frames are passed on untouched when every packet goes out
whole, so a client subscribed as the recorder was receives the recorded bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kitekit.errors import BrokerFeatureError, TickerError
from kitekit.wire.recording import KITE, frames_of, read_recording, recording_source
from kitekit.wire.ticks import Mode, PacketKind

__all__ = ["Recording"]

# The length a packet of each recorded kind is cut to for each subscribed mode.
_CUT: dict[int, dict[Mode, int]] = {
    PacketKind.FULL: {Mode.FULL: 184, Mode.QUOTE: 44, Mode.LTP: 8},
    PacketKind.QUOTE: {Mode.FULL: 44, Mode.QUOTE: 44, Mode.LTP: 8},
    PacketKind.INDEX_FULL: {Mode.FULL: 32, Mode.QUOTE: 28, Mode.LTP: 8},
    PacketKind.INDEX_QUOTE: {Mode.FULL: 28, Mode.QUOTE: 28, Mode.LTP: 8},
    PacketKind.LTP: {Mode.FULL: 8, Mode.QUOTE: 8, Mode.LTP: 8},
}


@dataclass(frozen=True)
class _Frame:
    at_ns: int
    data: bytes
    tokens: tuple[int, ...]
    spans: tuple[tuple[int, int], ...]  # (offset, length) of each packet's body


class Recording:
    """The frames of a recording folder, in order, ready to be filtered per connection."""

    def __init__(self, frames: list[tuple[int, bytes]], source: str = "") -> None:
        self.source = source
        self._frames = [_index(at, data) for at, data in frames]

    @classmethod
    def load(cls, folder: Path) -> Recording:
        """Read every day of a recording folder.

        Raises:
            FileNotFoundError: ``folder`` does not exist.
            NotADirectoryError: ``folder`` is a file.
            TickerError: it holds no tick recording, or a file in it is not one.
            BrokerFeatureError: it is a recording of another broker's feed (it holds no Kite frames to serve).
        """
        try:
            broker = recording_source(folder).broker
            table = read_recording(folder)
        except (FileNotFoundError, NotADirectoryError, PermissionError, TickerError):
            raise  # TickerError: several brokers' recordings in one folder
        except Exception as exc:  # pyarrow's errors: a damaged or foreign file
            raise TickerError(f"{folder} holds a file that is not a tick recording ({exc}).") from None
        if broker != KITE:
            raise BrokerFeatureError(
                f"{folder} is a recording of the {broker} feed: the simulator replays Kite Connect's frames, which "
                f"it does not hold. Backtest it with `kitekit --sim --broker {broker} run STRATEGY --backtest "
                f"--ticks {folder}`."
            )
        if not table.num_rows:
            raise TickerError(
                f"{folder} holds no tick recording (ticks-YYYY-MM-DD.parquet files written by `kitekit record`)."
            )
        return cls(frames_of(table), str(folder))

    def __len__(self) -> int:
        return len(self._frames)

    def tokens(self) -> set[int]:
        """Return every token the recording has ticks of."""
        return {t for frame in self._frames for t in frame.tokens}

    def delay_s(self, i: int, speed: float) -> float:
        """Return how long after the first frame frame ``i`` is due, at ``speed`` times the recorded pace."""
        return (self._frames[i].at_ns - self._frames[0].at_ns) / 1e9 / speed

    def frame_for(self, i: int, subs: dict[int, Mode]) -> bytes | None:
        """Return frame ``i`` as a connection subscribed to ``subs`` receives it, or None if it gets nothing."""
        frame = self._frames[i]
        picked: list[tuple[int, int]] = []
        whole = True
        for token, (offset, length) in zip(frame.tokens, frame.spans, strict=True):
            mode = subs.get(token)
            if mode is None:
                whole = False
                continue
            cut = _CUT[length][mode]
            whole = whole and cut == length
            picked.append((offset, cut))
        if not picked:
            return None
        if whole:
            return frame.data
        data = frame.data
        body = b"".join(length.to_bytes(2, "big") + data[offset : offset + length] for offset, length in picked)
        return len(picked).to_bytes(2, "big") + body


def _index(at_ns: int, data: bytes) -> _Frame:
    count = data[0] << 8 | data[1]
    tokens: list[int] = []
    spans: list[tuple[int, int]] = []
    pos = 2
    for _ in range(count):
        length = data[pos] << 8 | data[pos + 1]
        tokens.append(int.from_bytes(data[pos + 2 : pos + 6], "big"))
        spans.append((pos + 2, length))
        pos += 2 + length
    return _Frame(at_ns, data, tuple(tokens), tuple(spans))
