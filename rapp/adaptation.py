"""One adaptation of one environment: what the rApp's loop (and a Kubernetes Job) runs.

prepare  the usable samples, oldest first; the LAM and reference SAM from the store;
         H_in = A^+ s and their outputs f_base(H_in), f_ref(H_in) with ONNX Runtime
         (the LAM is a black box: no torch copy of it, no gradient through it);
         split by time: train (oldest), validation, held-out (newest)
train    the method's proxy, initialised from the reference SAM's torch weights,
         against the cached outputs (``lasco.train.adapt``, early stopping on val)
gate     on the held-out samples the candidate's NMSE must beat the LAM alone and the
         running proxy (combined as its mode says) by ``gate_margin_db`` each
publish  export (ONNX parity-checked), sign, publish as the environment's next version

>>> running = RunningProxy("proxy-102", 3)
>>> outcome = adapt_environment("102", samples, store, key, running=running)
>>> outcome.accepted, outcome.reason, outcome.published
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from datastore import LabelledSamples
from lasco import metrics
from lasco.collab import METHODS, build_method, side_taps
from lasco.export import model_from_store
from lasco.models import CsiRefiner, ModelConfig
from lasco.provenance import git_commit
from lasco.train import SplitTensors, adapt, evaluate, predict
from model_store import IncompatibleModel, Kind, ModelStore, VerifiedArtifact
from rapp.adapt_data import (
    Prepared,
    Split,
    hidden_shape,
    prepare,
    score_running,
    usable_samples,
)
from rapp.adapt_outcome import (
    AdaptationOutcome,
    Published,
    Reason,
    SampleCounts,
    StageClock,
    gate,
)
from rapp.adapt_publish import PublishError, publish_proxy
from rapp.adapt_settings import (
    NAME_PATTERN,
    AdaptationError,
    AdaptationSettings,
    RunningProxy,
    proxy_name,
)

__all__ = [
    "AdaptationError",
    "AdaptationOutcome",
    "AdaptationSettings",
    "Published",
    "Reason",
    "RunningProxy",
    "SampleCounts",
    "adapt_environment",
    "proxy_name",
]

logger = logging.getLogger(__name__)

REF_PARITY_TOL = 1e-3
"""Max abs difference allowed between the reference SAM's torch weights and its ONNX model:
the proxy starts from the former and is trained against the latter's outputs."""
ALPHA_RANGE = (0.0, 10.0)
"""The alpha the manifest schema and the runtime accept."""


def _fetch_pair(
    store: ModelStore, lam: str, sam_ref: str
) -> tuple[VerifiedArtifact, VerifiedArtifact]:
    """The verified LAM and reference SAM; AdaptationError unless they go together."""
    lam_art, ref_art = store.fetch(lam), store.fetch(sam_ref)
    for art, kind in ((lam_art, Kind.LAM), (ref_art, Kind.SAM_REF)):
        if art.manifest.kind is not kind:
            raise AdaptationError(f"{art.manifest.label} is a {art.manifest.kind}, not a {kind}")
    try:
        ref_art.manifest.check_compatible(lam_art.manifest)
    except IncompatibleModel as exc:
        raise AdaptationError(f"the store's reference SAM does not fit its LAM: {exc}") from None
    return lam_art, ref_art


def _tensors(split: Split) -> SplitTensors:
    """A split as the training loop's cached tensors (``base``/``ref`` and the LAM's hidden
    states from ONNX Runtime)."""
    arrays = (split.x, split.y, split.base, split.ref)
    hidden = None if split.hidden is None else torch.from_numpy(split.hidden)
    return SplitTensors(*(torch.from_numpy(a) for a in arrays), hidden, split.views)


def _lam_shape(lam_art: VerifiedArtifact) -> CsiRefiner:
    """What a side network needs of the LAM: its configuration (from its manifest), no
    weights; AdaptationError unless the LAM exports the hidden states it reads."""
    m = lam_art.manifest
    hidden_shape(lam_art)  # AdaptationError naming the LAM when it exports none
    if not m.model:
        raise AdaptationError(f"{m.label}: its manifest does not describe its model")
    stand_in = SimpleNamespace(cfg=ModelConfig(**m.model))
    if tuple(m.taps or ()) != side_taps(stand_in.cfg.n_layers):
        raise AdaptationError(
            f"{m.label} exports the hidden states of blocks {list(m.taps or [])}; a side "
            f"network reads blocks {list(side_taps(stand_in.cfg.n_layers))}"
        )
    return cast(CsiRefiner, stand_in)


def _reference_model(ref_art: VerifiedArtifact, data: Prepared, rows: int) -> CsiRefiner:
    """The reference SAM's torch model, after checking it computes what its ONNX model does
    (on up to ``rows`` held-out inputs)."""
    model = model_from_store(ref_art)
    x = data.held_out.x[:rows]
    err = float(np.abs(predict(model, x).numpy() - data.held_out.ref[:rows]).max())
    if err > REF_PARITY_TOL:
        raise AdaptationError(
            f"{ref_art.manifest.label}: model.pt and model.onnx differ by {err:.1e} "
            f"(> {REF_PARITY_TOL:g})"
        )
    return model


def adapt_environment(
    environment: str,
    samples: LabelledSamples,
    store: ModelStore,
    key: Ed25519PrivateKey,
    *,
    settings: AdaptationSettings | None = None,
    running: RunningProxy | tuple[str, int] | None = None,
    lam: str = "lam",
    sam_ref: str = "sam_ref",
    name: str | None = None,
) -> AdaptationOutcome:
    """Adapt ``environment``'s proxy SAM on its labelled samples; publish it if it passes
    the gate.

    Args:
        environment: the environment id (1-64 characters, the samples' environment).
        samples: its labelled samples (``labels [N, 2, 32, 32]``, ``codewords [N, M]``), in
            any order: ``t_ns`` orders them.
        store: the model store holding the LAM ``lam`` and the reference SAM ``sam_ref``,
            and where the proxy is published.
        key: the Ed25519 private key the proxy is signed with.
        settings: :class:`AdaptationSettings` (default: its defaults).
        running: the environment's running proxy (name, version), if any.
        name: the store name to publish as (default :func:`proxy_name`).

    Returns: the :class:`AdaptationOutcome`; a decline (too few samples, another
        projection, the gate, a failed publish) is an outcome, not an exception.
    Raises: AdaptationError (samples of another environment, a bad name, a store whose LAM
        and reference SAM do not go together), model_store.StoreError (the LAM or reference
        SAM cannot be fetched and verified).
    """
    settings = settings or AdaptationSettings()
    if samples.environment != environment:
        raise AdaptationError(f"samples of {samples.environment!r} given to adapt {environment!r}")
    if not 1 <= len(environment) <= 64:
        raise AdaptationError(f"environment id {environment!r} must have 1-64 characters")
    name = name or proxy_name(environment)
    if not NAME_PATTERN.match(name):
        raise AdaptationError(f"proxy name {name!r} does not match {NAME_PATTERN.pattern}")
    if isinstance(running, tuple):
        running = RunningProxy(*running)
    clock = StageClock()
    spec = settings.export
    info: dict[str, Any] = {
        "environment": environment,
        "method": settings.method,
        "mode": spec.mode.value,
        "running": f"{running.name} v{running.version}" if running else None,
    }

    def done(reason: Reason, detail: str, **fields: Any) -> AdaptationOutcome:
        out = AdaptationOutcome(
            accepted=reason is Reason.ACCEPTED,
            reason=reason,
            detail=detail,
            seconds=clock.snapshot(),
            **info,
            **fields,
        )
        logger.info("%s: %s (%s)", environment, reason.value, detail)
        return out

    with clock.stage("prepare"):
        usable = usable_samples(samples, settings.max_samples)
        info["samples"] = SampleCounts(len(samples), len(usable))
        if len(usable) < settings.min_samples:
            return done(
                Reason.TOO_FEW_SAMPLES,
                f"{len(usable)} usable samples (of {len(samples)}); "
                f"at least {settings.min_samples} needed",
            )
        lam_art, ref_art = _fetch_pair(store, lam, sam_ref)
        info["lam"] = lam_art.manifest.label
        reads_hidden = METHODS[settings.method].needs_hidden
        lam_shape = _lam_shape(lam_art) if reads_hidden else cast(CsiRefiner, None)
        if samples.projection_id != lam_art.manifest.projection_id:
            return done(
                Reason.PROJECTION_MISMATCH,
                f"samples use projection {samples.projection_id}, "
                f"{lam_art.manifest.label} decodes {lam_art.manifest.projection_id}",
            )
        data = prepare(
            usable,
            lam_art,
            ref_art,
            val_fraction=settings.val_fraction,
            held_out_fraction=settings.held_out_fraction,
            threads=settings.ort_threads,
            phase_views=settings.phase_views,
            hidden=reads_hidden,
        )
        info["samples"] = replace(
            info["samples"], train=len(data.train), val=len(data.val), held_out=len(data.held_out)
        )
        if min(len(data.train), len(data.val), len(data.held_out)) < 1:
            return done(
                Reason.TOO_FEW_SAMPLES,
                f"{len(usable)} usable samples leave an empty split (train/val/held-out "
                f"{len(data.train)}/{len(data.val)}/{len(data.held_out)})",
            )
        ref_model = _reference_model(ref_art, data, settings.parity_rows)

    with clock.stage("train"):
        cfg = replace(settings.adapt, seed=settings.seed)
        torch.manual_seed(settings.seed)
        # The plug-in methods never touch the LAM: it exists here only as cached outputs
        # (and, for a side network, its configuration and hidden states).
        method = build_method(settings.method, lam_shape, ref_model)
        fit = adapt(
            method,
            _tensors(data.train),
            _tensors(data.val),
            cfg,
            desc=f"adapt {environment}",
            progress=False,
        )
        info.update(val_nmse_db=fit.best_nmse_db, epochs=fit.epochs, best_epoch=fit.best_epoch)

    with clock.stage("gate"):
        held = data.held_out
        candidate_db, _ = evaluate(method, _tensors(held))
        lam_db = metrics.nmse_db(held.base, held.y)
        score = (
            score_running(store, running, lam_art, held, settings.ort_threads) if running else None
        )
        alpha = float(method.alpha.detach()) if spec.learnt_alpha else spec.alpha
        info.update(
            lam_nmse_db=lam_db,
            candidate_nmse_db=candidate_db,
            running_nmse_db=score.nmse_db if score else None,
            running_skipped=score.skipped if score else None,
            alpha=alpha,
        )
        reason, detail = gate(
            candidate_db, lam_db, score.nmse_db if score else None, settings.gate_margin_db
        )
        if reason is not Reason.ACCEPTED:
            return done(reason, detail)
        if alpha is not None and not ALPHA_RANGE[0] <= alpha <= ALPHA_RANGE[1]:
            return done(
                Reason.ALPHA_OUT_OF_RANGE,
                f"alpha {alpha:.3f} outside [{ALPHA_RANGE[0]:g}, {ALPHA_RANGE[1]:g}]; {detail}",
            )

    with clock.stage("publish"):
        counts: SampleCounts = info["samples"]
        training = {
            "commit": git_commit(),
            "method": settings.method,
            "environment_id": environment,
            "samples": {"train": counts.train, "val": counts.val, "held_out": counts.held_out},
            "t_ns": {"first": int(data.train.t_ns[0]), "last": int(held.t_ns[-1])},
            "adapt": asdict(cfg),
            "gate_margin_db": settings.gate_margin_db,
            "phase_views": data.train.views,  # the views that fit in memory
            "epochs": fit.epochs,
            "best_epoch": fit.best_epoch,
            "train_seconds": fit.seconds,
            "lam": lam_art.manifest.label,
            "sam_ref": ref_art.manifest.label,
            "running": info["running"],
        }
        gate_metrics = {
            "held_out_nmse_db": candidate_db,
            "lam_held_out_nmse_db": lam_db,
            "running_held_out_nmse_db": info["running_nmse_db"],
            "val_nmse_db": fit.best_nmse_db,
        }
        try:
            published = publish_proxy(
                store,
                key,
                getattr(method, spec.module) if spec.module else method,
                name=name,
                environment=environment,
                lam=lam_art.manifest,
                mode=spec.mode,
                alpha=alpha,
                training=training,
                metrics=gate_metrics,
                parity_inputs=held.x[: settings.parity_rows],
                parity_lam=None
                if held.hidden is None
                else (held.base[: settings.parity_rows], held.hidden[: settings.parity_rows]),
            )
        except PublishError as exc:
            if exc.published is None:
                return done(Reason.PUBLISH_FAILED, f"{exc}; {detail}")
            published = exc.published
            logger.warning("%s: the store reported %s, yet wrote %s", environment, exc, published)
    return done(
        Reason.ACCEPTED,
        f"{detail}; published {published.name} v{published.version}",
        published=published,
    )
