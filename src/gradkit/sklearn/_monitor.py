"""The per-epoch bookkeeping of scikit-learn's MLP, as a gradkit callback.

After every epoch: record the loss, score the validation split (with early stopping), count the
epochs without an improvement of at least `tol`, update scikit-learn's "invscaling" and
"adaptive" learning rates, and stop once that count exceeds `n_iter_no_change`
(scikit-learn's `_update_no_improvement_count` and `trigger_stopping`, step for step).
"""

from __future__ import annotations

from gradkit.train.callbacks import Callback

# "adaptive" divides the learning rate by this when the loss stalls, and stops below MIN_LR.
ADAPTIVE_FACTOR = 5.0
MIN_LR = 1e-6


class EpochMonitor(Callback):
    """Updates the estimator's curves and counters; stops training like scikit-learn.

    Args:
        est: the estimator (its fitted attributes are updated in place).
        n_samples: rows trained on per epoch (scikit-learn's `t_` counts them).
        validation: None, or (X_val, y_val, sample_weight_val) in the user's encoding.
        learning_rate: None, or "invscaling" / "adaptive" (solver="sgd" only).
    """

    def __init__(self, est, n_samples, validation=None, learning_rate=None):
        self.est = est
        self.n_samples = int(n_samples)
        self.validation = validation
        self.learning_rate = learning_rate
        self.converged = False

    def on_epoch_end(self, epoch, logs=None):
        est, logs = self.est, logs if logs is not None else {}
        loss = float(logs["loss"])
        est.n_iter_ += 1
        est.t_ += self.n_samples
        est.loss_ = loss
        est.loss_curve_.append(loss)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {loss:.8f}")
        if self.validation is not None:
            self._validate(logs)
        else:
            self._track_loss(loss)
        self._update_learning_rate()
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.validation is not None else "Training loss"
            msg = (f"{what} did not improve more than tol={est.tol:f} for "
                   f"{est.n_iter_no_change} consecutive epochs.")
            if self._trigger_stopping(msg):
                self.converged = True
                self.model.stop_training = True
            else:
                est._no_improvement_count = 0

    def _validate(self, logs):
        est = self.est
        X_val, y_val, sw_val = self.validation
        outputs = est._decision(X_val)
        val_loss = est._loss_on(outputs, y_val)
        score = est._score_outputs(outputs, y_val, sw_val)
        logs["val_loss"] = val_loss
        logs["val_score"] = score
        est.validation_loss_curve_.append(val_loss)
        est.validation_scores_.append(score)
        if est.verbose:
            print(f"Validation score: {score:f}")
        if score < est.best_validation_score_ + est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if score > est.best_validation_score_:
            est.best_validation_score_ = score
            est._best_weights = self.model.get_weights()

    def _track_loss(self, loss):
        est = self.est
        if loss > est.best_loss_ - est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if loss < est.best_loss_:
            est.best_loss_ = loss

    def _update_learning_rate(self):
        est = self.est
        if self.learning_rate == "invscaling":
            est._learning_rate = float(est.learning_rate_init) / (est.t_ + 1) ** est.power_t
            self.model.optimizer.lr = est._learning_rate

    def _trigger_stopping(self, msg):
        est = self.est
        if self.learning_rate != "adaptive":
            if est.verbose:
                print(msg + " Stopping.")
            return True
        if est._learning_rate <= MIN_LR:
            if est.verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        est._learning_rate /= ADAPTIVE_FACTOR
        self.model.optimizer.lr = est._learning_rate
        if est.verbose:
            print(msg + f" Setting learning rate to {est._learning_rate:f}")
        return False

    def restore_best(self):
        """Put back the weights of the best validation score (scikit-learn does at the end).

        The best is kept across warm-started fits, as scikit-learn keeps its `_best_coefs`.
        """
        if self.est._best_weights is not None:
            self.model.set_weights(self.est._best_weights)

