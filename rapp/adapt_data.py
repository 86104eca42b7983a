"""What an adaptation trains and judges on: the samples split by time, the LAM's and the
reference SAM's outputs from their ONNX models (the LAM is a black box), and the running
proxy's reconstruction of the held-out samples.

Shapes: ``x`` (``H_in = A^+ s``), ``y`` (labels), ``base`` (``f_base(x)``) and ``ref``
(``f_ref(x)``) are all ``[N, 2, 32, 32] float32``; ``hidden``, the LAM's hidden states from
the same run (its ``h_taps`` output, for side networks), ``[N, T, 32, d_model]``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import onnxruntime as ort

from datastore import LabelledSamples
from lasco import metrics
from lasco.channels import phase_views
from lasco.codec import CSI_SHAPE, Projection
from model_store import IncompatibleModel, Kind, ModelStore, StoreError, VerifiedArtifact
from model_store.manifest import BASE_NAME, HIDDEN_NAME, INPUT_NAME, OUTPUT_NAME, lam_hidden
from rapp.adapt_settings import AdaptationError, RunningProxy, split_sizes
from schemas import Mode
from serving import session_options
from serving.scheduling import default_providers

__all__ = [
    "ORT_ROWS",
    "Prepared",
    "RunningScore",
    "Split",
    "check_memory",
    "combine",
    "hidden_shape",
    "lam_outputs",
    "ort_outputs",
    "prepare",
    "score_running",
    "usable_samples",
    "views_that_fit",
]

logger = logging.getLogger(__name__)

ORT_ROWS = 256
"""Rows per ONNX Runtime run: bounds the activations' memory for any sample count."""
MAX_CACHE_BYTES = 4 << 30
"""The most memory one adaptation's cached arrays may take: ``x``, ``y``, ``base`` and
``ref`` (32 KiB a row) and, for a side network, the LAM's hidden states (32 KiB a row for
the shipped LAM), over every sample and phase view."""
CODEC_ROWS = 4096
"""Rows per re-encoding of rotated labels: bounds the codec's temporary arrays."""


@dataclass(frozen=True)
class Split:
    """One time slice of the samples: ``x``, ``y``, ``base``, ``ref`` ``[R, 2, 32, 32]
    float32`` and the report times ``t_ns [N] int64``. ``R = views * N``: with ``views > 1``
    the rows are that many views of each sample, view-major (see lasco.train.SplitTensors)."""

    x: np.ndarray
    y: np.ndarray
    base: np.ndarray
    ref: np.ndarray
    t_ns: np.ndarray
    views: int = 1
    hidden: np.ndarray | None = None

    def __len__(self) -> int:
        """Distinct samples (rows / views)."""
        return len(self.t_ns)


@dataclass(frozen=True)
class Prepared:
    """The three splits, oldest to newest: ``train``, ``val`` (early stopping) and
    ``held_out`` (the gate)."""

    train: Split
    val: Split
    held_out: Split


def usable_samples(samples: LabelledSamples, max_samples: int | None) -> LabelledSamples:
    """The samples with finite labels and codewords, oldest first, at most the newest
    ``max_samples`` of them."""
    finite = np.isfinite(samples.labels).all(axis=(1, 2, 3)) & np.isfinite(samples.codewords).all(
        axis=1
    )
    if not finite.all():
        logger.warning(
            "%s: %d of %d samples hold NaN/Inf and are left out",
            samples.environment,
            int((~finite).sum()),
            len(samples),
        )
    kept = samples.take(np.flatnonzero(finite))
    return kept.newest(len(kept) if max_samples is None else min(max_samples, len(kept)))


def _session(onnx: bytes, threads: int | None) -> ort.InferenceSession:
    return ort.InferenceSession(
        onnx, sess_options=session_options(threads), providers=default_providers()
    )


def ort_outputs(
    onnx: bytes | ort.InferenceSession, x: np.ndarray, threads: int | None = None
) -> np.ndarray:
    """A model's output on ``x [N, 2, 32, 32] float32`` with ONNX Runtime, ``ORT_ROWS`` rows
    per run: ``[N, 2, 32, 32] float32``."""
    sess = onnx if isinstance(onnx, ort.InferenceSession) else _session(onnx, threads)
    out = np.empty_like(x)
    _run_rows(sess, {INPUT_NAME: x}, {OUTPUT_NAME: out})
    return out


def _run_rows(
    sess: ort.InferenceSession, feeds: dict[str, np.ndarray], outs: dict[str, np.ndarray]
) -> None:
    """Run ``sess`` on the input arrays ``feeds`` (by name, sharing their rows),
    ``ORT_ROWS`` rows at a time, into the arrays ``outs`` (by output name; views of larger
    arrays are written in place)."""
    for i in range(0, len(next(iter(feeds.values()))), ORT_ROWS):
        rows = slice(i, i + ORT_ROWS)
        got = sess.run(list(outs), {k: v[rows] for k, v in feeds.items()})
        for y, g in zip(outs.values(), got, strict=True):
            y[rows] = g


def lam_outputs(
    lam: VerifiedArtifact, x: np.ndarray, threads: int | None, hidden: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """The LAM's output on ``x`` and, with ``hidden``, its hidden states from the same runs
    (its ``h_taps`` output; the caller checked it has one)."""
    if not hidden:
        return ort_outputs(lam.onnx, x, threads), None
    base, out = np.empty_like(x), np.empty((len(x), *hidden_shape(lam)), np.float32)
    _run_rows(_session(lam.onnx, threads), {INPUT_NAME: x}, {OUTPUT_NAME: base, HIDDEN_NAME: out})
    return base, out


def hidden_shape(lam: VerifiedArtifact) -> tuple[int, ...]:
    """One row's hidden states ``(T, 32, d_model)``; AdaptationError when the LAM has none."""
    spec = lam_hidden(lam.manifest.outputs)
    if spec is None:
        raise AdaptationError(
            f"{lam.manifest.label} exports no hidden states (h_taps): a side network needs a "
            "LAM exported with taps (lasco export --taps side); or set adaptation.method to "
            "e-lasco"
        )
    return tuple(int(n) for n in spec.shape[1:])


def _row_bytes(lam: VerifiedArtifact, hidden: bool) -> int:
    row = 4 * 4 * int(np.prod(CSI_SHAPE))
    return row + (4 * int(np.prod(hidden_shape(lam))) if hidden else 0)


def views_that_fit(lam: VerifiedArtifact, rows: int, n_train: int, views: int, hidden: bool) -> int:
    """The most phase views, up to ``views``, whose cached arrays fit in
    :data:`MAX_CACHE_BYTES` beside ``rows`` samples (``n_train`` of them for training): the
    more samples an environment has, the fewer views it needs and gets (at least 1)."""
    spare = MAX_CACHE_BYTES // _row_bytes(lam, hidden) - rows
    return max(1, min(views, 1 + spare // max(1, n_train)))


def check_memory(lam: VerifiedArtifact, rows: int, hidden: bool) -> None:
    """AdaptationError unless ``rows`` training rows (every sample and view) fit in
    :data:`MAX_CACHE_BYTES` (with the LAM's hidden states when ``hidden``)."""
    row = _row_bytes(lam, hidden)
    if rows * row > MAX_CACHE_BYTES:
        raise AdaptationError(
            f"{rows:,} rows of cached outputs{' and hidden states' if hidden else ''} would "
            f"take {rows * row / 2**30:.1f} GiB (> {MAX_CACHE_BYTES / 2**30:.0f}); lower "
            "max_samples"
        )


def prepare(
    samples: LabelledSamples,
    lam: VerifiedArtifact,
    ref: VerifiedArtifact,
    *,
    val_fraction: float,
    held_out_fraction: float,
    threads: int | None = None,
    phase_views: int = 1,
    hidden: bool = False,
) -> Prepared:
    """Decode ``samples`` (oldest first, already checked to use the LAM's projection) to
    ``H_in``, run the LAM and the reference SAM on them with ONNX Runtime, and split them by
    time (:func:`rapp.adapt_settings.split_sizes`). With ``phase_views > 1`` the training
    split also holds each sample's label rotated by common phases, with the codeword the
    projection makes of each rotation (view 0 keeps the reported codeword). With ``hidden``
    (a side network) every split also holds the LAM's hidden states. Fewer views when they
    would not fit (:func:`views_that_fit`); AdaptationError when even the samples alone
    would not (:func:`check_memory`)."""
    proj = Projection.from_id(lam.manifest.projection_id)
    if samples.codewords.shape[1] != proj.m:
        raise AdaptationError(
            f"{samples.environment}: codewords have {samples.codewords.shape[1]} values, "
            f"projection {proj.id} makes {proj.m}"
        )
    x = proj.decode(samples.codewords)
    n_train, n_val, _ = split_sizes(len(samples), val_fraction, held_out_fraction)
    views = views_that_fit(lam, len(x), n_train, phase_views, hidden)
    if views < phase_views:
        logger.info(
            "%s: %d phase views of %d samples fit in memory (of %d asked)",
            samples.environment,
            views,
            n_train,
            phase_views,
        )
    check_memory(lam, len(x) + (views - 1) * n_train, hidden)
    base, states = lam_outputs(lam, x, threads, hidden)
    ref_out = ort_outputs(ref.onnx, x, threads)
    bounds = (slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, None))
    parts = [
        Split(
            x[s],
            samples.labels[s],
            base[s],
            ref_out[s],
            samples.t_ns[s],
            hidden=None if states is None else states[s],
        )
        for s in bounds
    ]
    if views > 1 and len(parts[0]):
        codes = samples.codewords.dtype
        parts[0] = _with_views(parts[0], proj, lam, ref, views, threads, codes)
    return Prepared(*parts)


def _with_views(
    train: Split,
    proj: Projection,
    lam: VerifiedArtifact,
    ref: VerifiedArtifact,
    views: int,
    threads: int | None,
    codeword_dtype: np.dtype,
) -> Split:
    """``train`` with its labels in ``views`` common-phase rotations, view-major: each
    rotation encoded by ``proj`` into a codeword of ``codeword_dtype`` (as the UEs report
    them) and decoded, and the models run on it; every array filled in place."""
    n, y = len(train), phase_views(train.y, views)
    x, base, ref_out = np.empty_like(y), np.empty_like(y), np.empty_like(y)
    x[:n], base[:n], ref_out[:n] = train.x, train.base, train.ref
    states = None
    if train.hidden is not None:
        states = np.empty((len(y), *train.hidden.shape[1:]), np.float32)
        states[:n] = train.hidden
    for i in range(n, len(y), CODEC_ROWS):
        rows = slice(i, i + CODEC_ROWS)
        x[rows] = proj.decode(proj.encode(y[rows]).astype(codeword_dtype))
    lam_out = {OUTPUT_NAME: base[n:]} | ({} if states is None else {HIDDEN_NAME: states[n:]})
    _run_rows(_session(lam.onnx, threads), {INPUT_NAME: x[n:]}, lam_out)
    _run_rows(_session(ref.onnx, threads), {INPUT_NAME: x[n:]}, {OUTPUT_NAME: ref_out[n:]})
    return Split(x, y, base, ref_out, train.t_ns, views, states)


@dataclass(frozen=True)
class RunningScore:
    """The running proxy on the held-out samples: its NMSE (dB), or why it was not scored."""

    nmse_db: float | None
    mode: Mode | None = None
    alpha: float | None = None
    skipped: str | None = None


def combine(
    mode: Mode, alpha: float, pxy: np.ndarray, base: np.ndarray, ref: np.ndarray
) -> np.ndarray:
    """A proxy's reconstruction as the runtime serves it, all ``[N, 2, 32, 32]``:
    E-LASCO ``f_pxy + alpha (f_base - f_ref)``, LASCO ``f_base + f_pxy - f_ref``; a side
    network's output is the reconstruction itself."""
    if mode is Mode.SIDE:
        return pxy
    if mode is Mode.LASCO:
        return base + pxy - ref
    return pxy + np.float32(alpha) * (base - ref)


def score_running(
    store: ModelStore,
    running: RunningProxy,
    lam: VerifiedArtifact,
    held_out: Split,
    threads: int | None = None,
) -> RunningScore:
    """The held-out NMSE of the running proxy, combined as its mode says (``running``'s
    mode and alpha, else its manifest's, else E-LASCO with alpha 1, as the runtime does).

    A proxy the store no longer gives out (missing, marked bad, failing verification), that
    is not a proxy, or that may not serve beside ``lam`` is not scored: ``skipped`` says why
    and the gate then compares with the LAM alone."""
    try:
        art = store.fetch(running.name, running.version)
        if art.manifest.kind is not Kind.SAM_PROXY:
            raise IncompatibleModel(f"{art.manifest.label} is a {art.manifest.kind}")
        art.manifest.check_compatible(lam.manifest)
    except StoreError as exc:
        why = f"{running.name} v{running.version}: {exc}"
        logger.warning("running proxy not scored: %s", why)
        return RunningScore(None, skipped=why)
    m = art.manifest
    mode = running.mode or m.mode or Mode.E_LASCO
    alpha = running.alpha if running.alpha is not None else (m.alpha if m.alpha is not None else 1)
    if Mode(mode) is Mode.SIDE:
        if lam_hidden(lam.manifest.outputs) is None:
            why = f"{running.name} v{running.version}: a side network; the LAM has no h_taps"
            logger.warning("running proxy not scored: %s", why)
            return RunningScore(None, skipped=why)
        if held_out.hidden is None:
            held_out = replace(held_out, hidden=lam_outputs(lam, held_out.x, threads, True)[1])
        pxy = _side_outputs(art.onnx, held_out, threads)
    else:
        pxy = ort_outputs(art.onnx, held_out.x, threads)
    h_hat = combine(Mode(mode), float(alpha), pxy, held_out.base, held_out.ref)
    return RunningScore(metrics.nmse_db(h_hat, held_out.y), Mode(mode), float(alpha))


def _side_outputs(onnx: bytes, split: Split, threads: int | None) -> np.ndarray:
    """A side network's reconstruction of ``split`` (which holds the LAM's hidden states)."""
    assert split.hidden is not None
    out = np.empty_like(split.x)
    feeds = {INPUT_NAME: split.x, BASE_NAME: split.base, HIDDEN_NAME: split.hidden}
    _run_rows(_session(onnx, threads), feeds, {OUTPUT_NAME: out})
    return out
