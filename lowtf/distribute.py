"""`tf.distribute` strategies by name, and who writes what when several workers train.

lowtf runs on TensorFlow's own distribution engine: `MirroredStrategy` (several GPUs
or logical CPU devices in one process) and `MultiWorkerMirroredStrategy` (processes
configured by `TF_CONFIG`). Only the chief writes logs and the real checkpoints; the
other workers write theirs to temporary folders that are removed again, as
TensorFlow's multi-worker guide prescribes (saving is collective, so all must save).
"""

import json
import os
import shutil
import tempfile

import tensorflow as tf

from lowtf.errors import ConfigError, check_count

STRATEGIES = ("default", "mirrored", "multiworker")
# More logical CPU devices than this is taken for a typo: making them takes TensorFlow
# seconds to minutes (1000 take 38 s), and mirroring gains nothing past the CPU's cores.
MAX_LOGICAL_CPUS = 64

# What a collective op raises when a peer worker died or stopped answering.
PEER_LOST_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                    tf.errors.CancelledError, tf.errors.AbortedError)


def check_devices(devices, batch_size=None):
    """Raises a `ConfigError` unless `devices` (logical CPUs to mirror over, or None) is an
    int in [1, MAX_LOGICAL_CPUS] that divides the global `batch_size` (when given)."""
    check_count("devices", devices, optional=True)
    if devices is None:
        return
    if batch_size is not None and devices > batch_size:
        raise ConfigError(f"devices {devices} exceeds batch_size {batch_size}: each replica "
                          f"takes an equal share of the global batch; use a device count that "
                          f"divides {batch_size} (at most {min(batch_size, MAX_LOGICAL_CPUS)})")
    if batch_size is not None and batch_size % devices:
        raise ConfigError(f"devices {devices} must divide batch_size {batch_size} (the global "
                          f"batch, split evenly over the replicas); use a device count that "
                          f"divides {batch_size}, or a batch size that is a multiple of "
                          f"{devices}")
    if devices > MAX_LOGICAL_CPUS:
        raise ConfigError(f"devices {devices} is too many logical CPU devices: lowtf makes at "
                          f"most {MAX_LOGICAL_CPUS} (each replica needs a share of the batch "
                          f"and of the CPU); use --devices 2..{MAX_LOGICAL_CPUS}")


def use_logical_cpus(n):
    """Splits the CPU into `n` logical devices (must run before TensorFlow starts)."""
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError as e:
        if len(tf.config.list_logical_devices("CPU")) != n:
            raise ConfigError(f"cannot split the CPU into {n} devices once TensorFlow has "
                              f"started ({e}); call use_logical_cpus first") from None


def make_strategy(name="default", devices=None, timeout_seconds=60, batch_size=None):
    """A strategy by name.

    Args:
        name: `default` (one device), `mirrored` (all local GPUs, else `devices`
            logical CPUs), or `multiworker` (the cluster in `TF_CONFIG`).
        devices: for `mirrored` on a machine without GPUs, how many logical CPU
            devices to mirror over (default 2, at most `MAX_LOGICAL_CPUS`).
        timeout_seconds: how long a collective waits for a lost peer before failing.
        batch_size: the global batch, if known: `devices` must divide it.
    """
    check_devices(devices, batch_size)  # before TensorFlow spends minutes making devices
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy()
        use_logical_cpus(devices or 2)
        names = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(
            names, cross_device_ops=tf.distribute.ReductionToOneDevice())
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("the multiworker strategy needs TF_CONFIG describing the cluster "
                              "and this task; start workers with `lowtf launch` or set it "
                              "yourself (see README, Scaling out)")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError as e:
            raise ConfigError(f"TF_CONFIG is not valid JSON: {e}") from None
        options = tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=timeout_seconds)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    raise ConfigError(f"unknown strategy {name!r}; use one of {STRATEGIES}")


def is_chief(strategy):
    """True for the process that writes logs and checkpoints (always, without a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def worker_directory(directory, strategy):
    """`directory` for the chief; a fresh temporary folder for any other worker."""
    if is_chief(strategy):
        return directory
    resolver = strategy.cluster_resolver
    return tempfile.mkdtemp(prefix=f"lowtf-{resolver.task_type}-{resolver.task_id}-")


def remove_worker_directory(directory, strategy):
    if not is_chief(strategy):
        shutil.rmtree(directory, ignore_errors=True)
