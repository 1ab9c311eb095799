"""``PunziClassifier``: a scikit-learn classifier trained on the Punzi-loss."""

# Authors: the skpunzi developers
# SPDX-License-Identifier: BSD-3-Clause

import copy
import io
import math
import numbers
import warnings

import numpy as np
import sklearn
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._groups import check_groups
from ._loss import WindowIndex
from ._network import (
    ACTIVATIONS,
    ScaledNetwork,
    build_network,
    network_logits,
    training_inputs,
)
from ._sensitivity import FORMULAS
from ._training import (
    BCEObjective,
    PhaseConfig,
    PhaseResult,
    PunziObjective,
    TrainingInterrupted,
    present_hypotheses,
    run_phase,
)
from ._validation import (
    ARRAY_LIKE,
    BOOLEAN,
    CALLABLE,
    DEVICE,
    DICT,
    NONE,
    RANDOM_STATE,
    SIZES,
    Interval,
    Options,
    validate_params,
)

__all__ = ["PunziClassifier"]

_PREDICT_CHUNK = 1 << 18


class PunziClassifier(ClassifierMixin, BaseEstimator):
    r"""Neural-network classifier trained on the Punzi figure of merit.

    A small feed-forward network is first trained with class-balanced weighted
    binary cross-entropy (BCE), then fine-tuned with the Punzi-loss: the mean
    over signal hypotheses of the Punzi sensitivity

    .. math::

        \sigma_{\min} = \frac{b^2/2 + a\sqrt{B}
        + \frac{b}{2}\sqrt{b^2 + 4a\sqrt{B} + 4B}}{\varepsilon L},

    where the cut on the output is replaced by the output itself: the
    efficiency of hypothesis :math:`h` is :math:`\sum w_i p_i` over the signal
    events in its window and the background :math:`\sum w_i p_i` over the
    background events in it. A single cut at 0.5 on the fitted output is then
    a selection optimised for every hypothesis at once.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(8, 4)
        Units of the hidden layers of the default network (the paper's).
    activation : {"tanh", "relu", "logistic", "elu", "gelu"}, default="tanh"
        Hidden-layer activation of the default network.
    module : class or callable, default=None
        Custom architecture: a ``torch.nn.Module`` subclass or a factory,
        called as ``module(n_features, **module_kwargs)``, returning a module
        that maps a float tensor of shape (n_events, n_features) to one logit
        per event. ``None`` builds the default network from
        ``hidden_layer_sizes`` and ``activation``. Pass a class and keyword
        arguments, never a live module, so that the estimator can be cloned.
    module_kwargs : dict, default=None
        Keyword arguments for ``module``.
    a : float, default=3.0
        Sigmas of the discovery test in the Punzi-loss (the paper: 3).
    b : float, default=1.28
        Sigmas of the exclusion test (1.28 for a 90 % confidence level).
    luminosity : float, default=1.0
        Target luminosity :math:`L` in the loss. It only scales the loss when
        ``sample_weight`` already gives background counts at the target
        luminosity.
    formula : {"paper", "refined"}, default="paper"
        Variant of the sensitivity, see :func:`punzi_sensitivity`.
    hypothesis_weights : array-like of shape (n_hypotheses,), default=None
        Weight of each hypothesis in the mean of the loss (a non-flat prior
        over masses). ``None`` weighs all hypotheses equally, as the paper.
    scale_inputs : {"minmax", "standard"} or None, default="minmax"
        Input scaling learnt on the training data and stored in the network:
        ``"minmax"`` maps each feature to [0, 1] (the paper), ``"standard"``
        to zero mean and unit variance, ``None`` leaves features as given.
    optimizer : {"adam", "sgd"}, default="adam"
        Optimiser of both phases. The paper uses plain gradient descent;
        Adam reaches the same losses in far fewer epochs.
    pretrain_epochs : int, default=30
        Epochs of BCE pretraining (the paper: 200 with plain gradient
        descent; Adam converges in far fewer).
    pretrain_batch_size : int, default=2048
        Events per BCE mini-batch (the paper: 2048).
    pretrain_learning_rate : float, default=0.03
        Initial learning rate of the BCE phase.
    max_epochs : int, default=500
        Epochs of the Punzi phase (the paper: 1000).
    batch_size : int, "auto" or None, default="auto"
        Events per Punzi-loss mini-batch; ``None`` uses the whole sample in
        every step, ``"auto"`` splits the training events into 10 batches of
        at least 10 000 events (the whole sample when it is smaller). Batch
        sums are multiplied by the number of batches so that they estimate
        full-sample efficiencies and backgrounds. As in the paper, a few
        mini-batches per epoch train better than the whole sample (the
        noise helps escape poor minima), while very small batches hold too
        few signal events per hypothesis and make the loss unstable.
    learning_rate : float, default=0.01
        Initial learning rate of the Punzi phase. With Adam, 0.03 and more
        let the selection collapse on the generated Z' data; see
        ``benchmarks/RESULTS.md`` for the scan behind the default.
    lr_patience : int, default=10
        Epochs without improvement after which the learning rate is reduced
        (both phases; the paper: 10).
    lr_factor : float, default=0.5
        Factor of each learning-rate reduction (the paper: 0.5).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the events, monitor their
        Punzi-loss, stop after ``n_iter_no_change`` epochs without improvement
        and restore the parameters with the best validation loss.
    validation_fraction : float, default=0.1
        Share of events held out when ``early_stopping=True``.
    n_iter_no_change : int, default=50
        Patience of early stopping, in epochs.
    chunk_size : int, default=65536
        Events per forward/backward chunk in the Punzi phase. Only speed and
        memory depend on it, never the result. Custom networks: batches up
        to this size take one autograd pass, larger ones a second forward
        pass chunk by chunk, with memory proportional to the chunk.
    device : {"cpu", "cuda", "auto"} or str, default="cpu"
        Where to train. ``"auto"`` takes a GPU when torch sees one. The fitted
        network is moved to the CPU afterwards, so predictions and pickles
        never need a GPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the network initialisation and the shuffling. The global torch
        and numpy random states are left untouched.
    verbose : int, default=0
        0 is silent, 1 draws a progress bar per phase on standard error, 2
        logs one line per epoch to the ``"skpunzi"`` logger.
    warm_start : bool, default=False
        When fitted already, keep the network and its input scaling, skip
        pretraining and continue the Punzi phase from the current parameters.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        Class labels; ``classes_[1]`` is the signal class.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` was a DataFrame with string column names.
    n_hypotheses_ : int
        Number of hypotheses described by ``groups`` in ``fit``.
    hypothesis_weights_ : ndarray of shape (n_hypotheses_,)
        Weights of the hypotheses in the loss; 0 for those left out (no
        signal).
    module_ : torch.nn.Module
        The fitted network, input scaling included, on the CPU. It maps raw
        features to logits.
    history_ : list of dict
        One entry per epoch of either phase with keys ``"phase"``
        (``"pretrain"`` or ``"punzi"``), ``"epoch"``, ``"loss"``,
        ``"validation_loss"`` (NaN without validation) and
        ``"learning_rate"``.
    pretrain_loss_curve_ : list of float
        Weighted BCE loss per pretraining epoch.
    loss_curve_ : list of float
        Punzi-loss per epoch of the Punzi phase (mean over mini-batches).
    validation_loss_curve_ : list of float or None
        Validation Punzi-loss per epoch, ``None`` without early stopping.
    n_pretrain_epochs_ : int
        Pretraining epochs run.
    n_epochs_ : int
        Punzi-phase epochs run.
    pretrain_punzi_loss_ : float
        Full-sample Punzi-loss of the training events after pretraining.
    punzi_loss_ : float
        Full-sample Punzi-loss of the training events at the end of ``fit``.

    See Also
    --------
    PunziLoss : The loss, for use in your own training loop.
    punzi_fom : Score a selection by its figure of merit per hypothesis.
    mass_windows : Build ``groups`` from the recoil mass.

    Notes
    -----
    Events outside every window take part in pretraining only: they carry
    no gradient in the Punzi phase and are left out of its batches.
    Hypotheses without signal events are left out of the loss, with a
    warning.

    The Punzi phase computes exact batch gradients chunk by chunk: the loss
    depends on the events only through two sums per hypothesis, so a first
    pass accumulates the sums and a second pass turns d(loss)/d(sum) into
    per-event gradients and backpropagates them. Events with the same class
    and the same windows enter the same sums, so the sums are taken over a
    few hundred such groups rather than over every (event, window) pair.
    For the default tanh network the backward pass is written out by hand
    and the first pass keeps the activations of up to 256 MiB of events
    (about 5 million with the default network; the rest are recomputed);
    other networks recompute the forward pass under autograd, with memory
    proportional to ``chunk_size``.

    When the Punzi phase ends with a higher loss than pretraining left, the
    pretrained parameters are kept and a warning gives both numbers. A
    non-finite loss restores the last good parameters and lowers the learning
    rate, with a warning; Ctrl-C during ``fit`` keeps the best parameters so
    far, with a warning. A network whose output is still not finite after
    training is never kept: ``fit`` raises a ``ValueError`` instead.

    Persistence: ``pickle`` and ``joblib`` store the fitted network as the
    bytes of ``torch.save`` and load them with ``map_location="cpu"``, so a
    model whose network was on a GPU loads on a CPU-only machine. A pickle
    loads in a fresh process with the same versions of skpunzi, torch and
    scikit-learn, and then predicts bitwise identically, whatever torch's
    default dtype and number of threads there. With other versions it is
    loaded with a ``UserWarning`` naming them, and nothing is guaranteed. A
    custom ``module`` class must be importable where the model is loaded.
    Unpickling runs code: load only files you trust.

    References
    ----------
    .. [1] F. Abudinén et al., "Punzi-loss: a non-differentiable metric
       approximation for sensitivity optimisation in the search for new
       particles", Eur. Phys. J. C 82 (2022) 1065.
    .. [2] G. Punzi, "Sensitivity of searches for new signals and its
       optimization", PHYSTAT 2003, arXiv:physics/0308063.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skpunzi import PunziClassifier
    >>> X, y = make_classification(n_samples=500, n_features=4, random_state=0)
    >>> clf = PunziClassifier(pretrain_epochs=5, max_epochs=20, random_state=0)
    >>> clf.fit(X, y).predict_proba(X[:2]).shape
    (2, 2)
    """

    __metadata_request__fit = {"sample_weight": True, "groups": True}

    _parameter_constraints = {
        "hidden_layer_sizes": [SIZES],
        "activation": [Options(*ACTIVATIONS)],
        "module": [NONE, CALLABLE],
        "module_kwargs": [NONE, DICT],
        "a": [Interval(numbers.Real, 0, None, closed="left")],
        "b": [Interval(numbers.Real, 0, None, closed="left")],
        "luminosity": [Interval(numbers.Real, 0, None, closed="neither")],
        "formula": [Options(*FORMULAS)],
        "hypothesis_weights": [NONE, ARRAY_LIKE],
        "scale_inputs": [Options("minmax", "standard", None)],
        "optimizer": [Options("adam", "sgd")],
        "pretrain_epochs": [Interval(numbers.Integral, 0, None)],
        "pretrain_batch_size": [Interval(numbers.Integral, 1, None)],
        "pretrain_learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_epochs": [Interval(numbers.Integral, 0, None)],
        "batch_size": [NONE, Options("auto"), Interval(numbers.Integral, 1, None)],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "lr_patience": [Interval(numbers.Integral, 0, None)],
        "lr_factor": [Interval(numbers.Real, 0, 1, closed="neither")],
        "early_stopping": [BOOLEAN],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None)],
        "chunk_size": [Interval(numbers.Integral, 1, None)],
        "device": [Options("cpu", "cuda", "auto"), DEVICE],
        "random_state": [RANDOM_STATE],
        "verbose": [Interval(numbers.Integral, 0, None), BOOLEAN],
        "warm_start": [BOOLEAN],
    }

    def __init__(
        self,
        hidden_layer_sizes=(8, 4),
        activation="tanh",
        *,
        module=None,
        module_kwargs=None,
        a=3.0,
        b=1.28,
        luminosity=1.0,
        formula="paper",
        hypothesis_weights=None,
        scale_inputs="minmax",
        optimizer="adam",
        pretrain_epochs=30,
        pretrain_batch_size=2048,
        pretrain_learning_rate=0.03,
        max_epochs=500,
        batch_size="auto",
        learning_rate=0.01,
        lr_patience=10,
        lr_factor=0.5,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=50,
        chunk_size=1 << 16,
        device="cpu",
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.module = module
        self.module_kwargs = module_kwargs
        self.a = a
        self.b = b
        self.luminosity = luminosity
        self.formula = formula
        self.hypothesis_weights = hypothesis_weights
        self.scale_inputs = scale_inputs
        self.optimizer = optimizer
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_batch_size = pretrain_batch_size
        self.pretrain_learning_rate = pretrain_learning_rate
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lr_patience = lr_patience
        self.lr_factor = lr_factor
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.chunk_size = chunk_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def fit(self, X, y, sample_weight=None, groups=None):
        """Pretrain with weighted BCE, then fine-tune on the Punzi-loss.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features. A DataFrame's column names are remembered and checked
            at prediction time. Sparse matrices are not accepted.
        y : array-like of shape (n_samples,)
            Two class labels of any type; the larger (``classes_[1]``) is the
            signal.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-event scale factors: with ``1 / N_generated(h)`` for the
            signal of hypothesis ``h`` and ``L_target / L_MC`` for background
            events, the Punzi-loss sees true efficiencies and background
            counts at the target luminosity. Negative weights are allowed.
            ``None`` means 1 for every event.
        groups : array-like or sparse matrix, default=None
            Which hypothesis window(s) each event lies in: 1-D integer
            hypothesis indices (-1 for an event in no window), or a 0/1
            indicator of shape (n_samples, n_hypotheses), dense or sparse, for
            overlapping windows. ``None`` puts every event in one window.

        Returns
        -------
        self : PunziClassifier
            The fitted estimator.
        """
        validate_params(self, self._parameter_constraints)
        warm = self.warm_start and hasattr(self, "module_")
        X, y = validate_data(self, X, y, reset=not warm, dtype=(np.float32, np.float64))
        _check_float32_range(X)
        self._fit(self._check_training_data(X, y, sample_weight, groups, warm), warm)
        return self

    def _check_training_data(self, X, y, sample_weight, groups, warm):
        """Labels, weights and windows, validated; hypothesis weights derived."""
        check_classification_targets(y)
        classes, y_encoded = np.unique(y, return_inverse=True)
        if classes.shape[0] > 2:
            raise ValueError(
                "Only binary classification is supported: PunziClassifier "
                f"separates signal from background, but y holds {classes.shape[0]} "
                f"classes: {classes.tolist()[:10]}."
            )
        if classes.shape[0] < 2:
            raise ValueError(
                "PunziClassifier needs signal and background events, but y holds "
                f"only one class: {classes.tolist()}."
            )
        if warm and not np.array_equal(classes, self.classes_):
            raise ValueError(
                f"warm_start=True needs the classes of the first fit, "
                f"{self.classes_.tolist()}; got {classes.tolist()}."
            )
        self.classes_ = classes
        is_signal = y_encoded == 1

        weight = _check_sample_weight(sample_weight, X.shape[0])
        windows = check_groups(groups, X.shape[0])
        self.n_hypotheses_ = windows.n_hypotheses
        self.hypothesis_weights_ = self._check_hypotheses(windows, is_signal, weight)
        return X, is_signal, weight, windows

    def _check_hypotheses(self, windows, is_signal, weight):
        """Weights of the hypotheses in the loss; 0 leaves one out (warned)."""
        if windows.n_pairs == 0:
            raise ValueError(
                "No event lies in any hypothesis window (groups): the Punzi-loss "
                "has nothing to optimise."
            )
        n_hyp = windows.n_hypotheses
        pair_weight = weight[windows.event]
        pair_signal = is_signal[windows.event]
        n_events = np.bincount(windows.hypothesis, minlength=n_hyp)
        n_signal = np.bincount(windows.hypothesis[pair_signal], minlength=n_hyp)
        signal_weight = np.bincount(
            windows.hypothesis[pair_signal], pair_weight[pair_signal], minlength=n_hyp
        )
        background_weight = np.bincount(
            windows.hypothesis[~pair_signal], pair_weight[~pair_signal], minlength=n_hyp
        )

        if self.hypothesis_weights is None:
            weights = np.ones(n_hyp)
        else:
            weights = np.asarray(self.hypothesis_weights, dtype=np.float64).ravel()
            if weights.shape[0] != n_hyp or not np.all(np.isfinite(weights)):
                raise ValueError(
                    f"hypothesis_weights must hold {n_hyp} finite values, one per "
                    f"hypothesis in groups; got {weights.shape[0]} values."
                )
            if np.any(weights < 0) or not np.any(weights > 0):
                raise ValueError(
                    "hypothesis_weights must be non-negative with a positive sum."
                )

        # Empty windows (e.g. a hypothesis absent from a CV fold) drop out
        # silently; windows with events but no usable signal are announced.
        no_signal = (n_events > 0) & (n_signal == 0)
        bad_signal = (n_signal > 0) & (signal_weight <= 0)
        _warn_hypotheses(no_signal, "hold no signal events")
        _warn_hypotheses(
            bad_signal, "have a non-positive weighted signal sum (efficiency)"
        )
        _warn_hypotheses(
            background_weight < 0,
            "have a negative weighted background sum; it is clamped at 0 in the "
            "loss and",
            left_out=False,
        )
        weights = np.where(signal_weight > 0, weights, 0.0)
        if not np.any(weights > 0):
            raise ValueError(
                "No hypothesis window holds signal events with positive weight: "
                "the Punzi-loss has nothing to optimise. Check y, sample_weight "
                "and groups."
            )
        return weights

    def _fit(self, data, warm):
        X, is_signal, weight, windows = data
        del data
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        device = _resolve_device(self.device)

        # Shuffle once: batches are then contiguous slices of this copy. The
        # window keys are built before and shuffled with the events; the
        # (event, window) pairs are not needed beyond this point.
        order = rng.permutation(X.shape[0])
        index = WindowIndex(windows, is_signal, device)
        del windows
        index = index.take(torch.as_tensor(order, device=device))
        X, is_signal, weight = X[order], is_signal[order], weight[order]
        n_train = X.shape[0]
        if self.early_stopping:
            n_train = X.shape[0] - max(1, round(self.validation_fraction * X.shape[0]))
            if n_train < 1:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction} leaves no "
                    f"training events out of {X.shape[0]}."
                )

        # Seeding inside fork_rng keeps the caller's global torch state as is.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            generator = torch.Generator().manual_seed(seed)
            # Events of zero weight do not exist for the fit: keep them out of
            # the input scaling too.
            in_fit = weight[:n_train] != 0
            network = self._initial_network(X[:n_train][in_fit], warm).to(device)
            tensors = _to_tensors(device, X, is_signal, weight)
            results = self._train(network, tensors, index, n_train, generator, warm)

        # The recoveries of the training loop should never leave a network
        # that outputs NaN; should they fail, a clear error beats NaN scores.
        _check_finite_output(network, tensors[0], self.chunk_size)
        self.module_ = network.cpu().eval()
        self._store_history(*results)

    def _initial_network(self, X, warm):
        if warm:
            # A copy: should this fit fail, the fitted network stays as it was.
            return copy.deepcopy(self.module_)
        # Statistics in float64 whatever the storage, so that they do not
        # depend on the input dtype.
        if self.scale_inputs == "minmax":
            low = X.min(axis=0).astype(np.float64)
            offset, scale = low, X.max(axis=0).astype(np.float64) - low
        elif self.scale_inputs == "standard":
            offset, scale = (
                X.mean(axis=0, dtype=np.float64),
                X.std(axis=0, dtype=np.float64),
            )
        else:
            offset, scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
        # A constant feature carries no information; scale 1 keeps it finite.
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        network = build_network(
            self.module,
            self.module_kwargs,
            X.shape[1],
            self.hidden_layer_sizes,
            self.activation,
        )
        return ScaledNetwork(
            network.float(),
            torch.as_tensor(offset, dtype=torch.float32),
            torch.as_tensor(scale, dtype=torch.float32),
        )

    def _train(self, network, tensors, index, n_train, generator, warm):
        """Both phases; returns their results and the Punzi losses."""
        X, target, weight = tensors
        pretrain = PhaseResult()
        punzi = PhaseResult()
        losses = (math.nan, math.nan)
        # The phase running when Ctrl-C arrives gets the interrupted result
        # (pretraining may have run no epoch at all, or been skipped).
        phase = "pretrain"
        try:
            if not warm and self.pretrain_epochs > 0:
                bce = BCEObjective(
                    training_inputs(network, X[:n_train]),
                    target[:n_train],
                    _balanced_weight(target[:n_train], weight[:n_train]),
                    self.pretrain_batch_size,
                    generator,
                )
                pretrain = run_phase(network, bce, self._phase_config("pretrain"))
            phase = "punzi"
            punzi, losses = self._fine_tune(
                network, X, weight, index, n_train, generator
            )
        except TrainingInterrupted as interruption:
            if phase == "pretrain":
                pretrain = interruption.args[0]
            else:
                punzi = interruption.args[0]
            warnings.warn(
                "fit was interrupted (KeyboardInterrupt); the model keeps the best "
                "parameters found so far and is usable.",
                UserWarning,
                stacklevel=3,
            )
        return pretrain, punzi, losses

    def _fine_tune(self, network, X, weight, index, n_train, generator):
        hypothesis_weights = torch.as_tensor(
            self.hypothesis_weights_, dtype=torch.float64, device=X.device
        )
        validation = None
        if n_train < X.shape[0]:
            validation_index = index.take(slice(n_train, None))
            validation = (
                training_inputs(network, X[n_train:]),
                weight[n_train:],
                validation_index,
                X.shape[0] / (X.shape[0] - n_train),
                present_hypotheses(
                    hypothesis_weights,
                    weight[n_train:],
                    validation_index.key,
                    validation_index,
                ),
            )

        # Events in no window have no gradient in this phase: leave them out.
        train_index = index.take(slice(None, n_train))
        in_window = train_index.in_window()
        if not bool(in_window.all()):
            kept = torch.nonzero(in_window).squeeze(1)
            train_index = train_index.take(kept)
            train_X, train_weight = X[:n_train][kept], weight[:n_train][kept]
        else:
            train_X, train_weight = X[:n_train], weight[:n_train]
        train_inputs = training_inputs(network, train_X)
        objective = PunziObjective(
            train_inputs,
            train_weight,
            train_index,
            hypothesis_weights,
            {
                "a": self.a,
                "b": self.b,
                "luminosity": self.luminosity,
                "formula": self.formula,
            },
            _resolve_batch_size(self.batch_size, len(train_index)),
            X.shape[0] / n_train,
            self.chunk_size,
            generator,
            validation,
        )

        # Remember where pretraining left off, to keep the better model.
        def full_loss():
            return objective.full_loss(
                network,
                train_inputs,
                train_weight,
                train_index,
                X.shape[0] / n_train,
                hypothesis_weights,
            )

        before = full_loss()
        pretrained = {k: v.detach().clone() for k, v in network.state_dict().items()}
        if self.max_epochs == 0:
            return PhaseResult(), (before, before)
        result = run_phase(network, objective, self._phase_config("punzi"))
        after = full_loss()
        if not after <= before:
            network.load_state_dict(pretrained)
            warnings.warn(
                f"The Punzi phase did not improve the Punzi-loss of the training "
                f"events ({before:.6g} after pretraining, {after:.6g} after "
                f"{result.n_epochs} epochs); the pretrained parameters are kept. "
                "Try a smaller learning_rate or a larger batch_size.",
                UserWarning,
                stacklevel=4,
            )
            after = before
        return result, (before, after)

    def _phase_config(self, phase):
        pretrain = phase == "pretrain"
        return PhaseConfig(
            name=phase,
            max_epochs=self.pretrain_epochs if pretrain else self.max_epochs,
            learning_rate=(
                self.pretrain_learning_rate if pretrain else self.learning_rate
            ),
            optimizer=self.optimizer,
            lr_patience=self.lr_patience,
            lr_factor=self.lr_factor,
            early_stopping=self.early_stopping and not pretrain,
            n_iter_no_change=self.n_iter_no_change,
            restore_best=not pretrain,
            verbose=int(self.verbose),
        )

    def _store_history(self, pretrain, punzi, losses):
        self.history_ = pretrain.history + punzi.history
        self.pretrain_loss_curve_ = [entry["loss"] for entry in pretrain.history]
        self.loss_curve_ = [entry["loss"] for entry in punzi.history]
        self.validation_loss_curve_ = (
            [entry["validation_loss"] for entry in punzi.history]
            if self.early_stopping
            else None
        )
        self.n_pretrain_epochs_ = pretrain.n_epochs
        self.n_epochs_ = punzi.n_epochs
        self.pretrain_punzi_loss_, self.punzi_loss_ = losses

    def decision_function(self, X):
        """Network output before the sigmoid (the logit of the signal class).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        logits : ndarray of shape (n_samples,)
            Positive values are classified as ``classes_[1]`` (signal).
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float32, np.float64))
        _check_float32_range(X)
        x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        with torch.inference_mode():
            logits = network_logits(self.module_, x, _PREDICT_CHUNK)
        return logits.numpy().astype(np.float64)

    def predict_proba(self, X):
        """Probabilities of background and signal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            Columns follow ``classes_``; the second is the network's sigmoid
            output, the quantity the Punzi-loss was trained on.
        """
        logits = self.decision_function(X)
        signal = 0.5 * (1.0 + np.tanh(0.5 * logits))
        return np.column_stack([1.0 - signal, signal])

    def predict(self, X):
        """Class labels after the single cut at 0.5 on the signal probability.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        logits = self.decision_function(X)
        return self.classes_[(logits > 0).astype(np.int64)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = False
        return tags

    def __sklearn_is_fitted__(self):
        # The network, not the attributes a failed fit may have set already.
        return hasattr(self, "module_")

    def __getstate__(self):
        state = dict(super().__getstate__())
        state["_skpunzi_versions"] = _library_versions()
        if "module_" in state:
            # Bytes from torch.save, not the live module: __setstate__ can then
            # map every tensor to the CPU, wherever the network was saved.
            buffer = io.BytesIO()
            torch.save(state["module_"], buffer)
            state["module_"] = buffer.getvalue()
        return state

    def __setstate__(self, state):
        state = dict(state)
        _warn_version_mismatch(state.pop("_skpunzi_versions", None))
        if isinstance(state.get("module_"), bytes):
            # weights_only=False: the whole module is stored, custom classes
            # included; unpickling runs code anyway, as any pickle does.
            state["module_"] = torch.load(
                io.BytesIO(state["module_"]), map_location="cpu", weights_only=False
            )
        super().__setstate__(state)


def _library_versions():
    from . import __version__

    return {
        "skpunzi": __version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
    }


def _warn_version_mismatch(saved):
    """Warn when a pickle comes from other library versions than these."""
    if saved is None:
        return
    current = _library_versions()
    differ = [
        f"{name} {version} (now {current[name]})"
        for name, version in saved.items()
        if name in current and version != current[name]
    ]
    if differ:
        warnings.warn(
            "This PunziClassifier was pickled with "
            + ", ".join(differ)
            + "; loading across versions is not guaranteed. Refit it, or load it "
            "with the versions it was saved with.",
            UserWarning,
            stacklevel=3,
        )


def _check_float32_range(X):
    """The network computes in float32: larger values would become infinite."""
    limit = np.finfo(np.float32).max
    if X.size and (X.max() > limit or X.min() < -limit):
        raise ValueError(
            f"X holds values up to {np.abs(X).max():.3g} in magnitude, beyond the "
            f"float32 range (+-{limit:.3g}) in which the network computes. Rescale "
            "the features, e.g. by a constant factor or a logarithm."
        )


def _check_finite_output(network, X, chunk_size):
    """ValueError when the trained network outputs NaN or infinity on X."""
    parameters_finite = all(
        bool(torch.isfinite(value).all()) for value in network.state_dict().values()
    )
    if parameters_finite and bool(
        torch.isfinite(network_logits(network, X, chunk_size)).all()
    ):
        return
    raise ValueError(
        "Training diverged: the network's output on the training events is not "
        "finite (NaN or infinity), and no finite earlier state was recovered. "
        "Lower pretrain_learning_rate and learning_rate, or scale the features "
        "(scale_inputs='minmax' or 'standard')."
    )


def _resolve_batch_size(batch_size, n_events):
    """Events per Punzi-phase batch; "auto" means 10 batches of >= 10 000."""
    if batch_size == "auto":
        return max(math.ceil(n_events / 10), min(n_events, 10_000))
    return batch_size


def _check_sample_weight(sample_weight, n_samples):
    if sample_weight is None:
        return np.ones(n_samples)
    weight = np.asarray(sample_weight)
    if weight.dtype.kind not in "biuf":
        raise ValueError(
            f"sample_weight must be numeric; got an array of dtype {weight.dtype}."
        )
    weight = weight.astype(np.float64).reshape(-1) if weight.ndim <= 1 else weight
    if weight.ndim != 1 or weight.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), one weight per event; "
            f"got shape {np.shape(sample_weight)}."
        )
    if not np.all(np.isfinite(weight)):
        raise ValueError("sample_weight contains NaN or infinity.")
    if not np.any(weight != 0):
        raise ValueError("sample_weight sums to zero: every event has weight 0.")
    return weight


def _balanced_weight(target, weight):
    """BCE weights: the signal rescaled to the background's total weight."""
    is_signal = target > 0.5
    signal_sum, background_sum = weight[is_signal].sum(), weight[~is_signal].sum()
    if not (signal_sum > 0 and background_sum > 0):
        raise ValueError(
            "Each class needs a positive total weight for pretraining; got "
            f"{signal_sum.item():.4g} for the signal class and "
            f"{background_sum.item():.4g} for the background class. Check "
            "sample_weight."
        )
    balanced = torch.where(is_signal, weight * (background_sum / signal_sum), weight)
    # Unit mean weight keeps learning rates meaningful whatever the units.
    return balanced / balanced.abs().mean()


def _warn_hypotheses(mask, problem, left_out=True):
    if not np.any(mask):
        return
    indices = np.flatnonzero(mask)
    shown = ", ".join(str(i) for i in indices[:20])
    more = f" and {indices.shape[0] - 20} more" if indices.shape[0] > 20 else ""
    action = " are left out of the Punzi-loss." if left_out else " are kept."
    warnings.warn(
        f"Hypotheses {shown}{more} {problem}{action}", UserWarning, stacklevel=5
    )


def _resolve_device(device):
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested but torch sees no CUDA device; "
            "use device='cpu' or 'auto'."
        )
    return device


def _to_tensors(device, X, is_signal, weight):
    return (
        torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device),
        torch.from_numpy(is_signal.astype(np.float32)).to(device),
        torch.from_numpy(weight.astype(np.float32)).to(device),
    )
