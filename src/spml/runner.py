"""A Kedro runner that submits each node to a Dask cluster once its inputs exist.

Built on Kedro's AbstractRunner like the DaskRunner of Kedro's deployment guide, with what
this study needs besides: every dataset a node hands on must be a catalogued file (workers
on other machines share nothing else), training nodes ask for a `GPU` worker resource when
the study trains on CUDA, and each model's MLflow run is tagged with the `kedro run` that
started it, from whichever worker trained it. A task whose worker dies is retried by Dask
and resumes from the model's last checkpoint.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.hooks.manager import _create_hook_manager, _register_hooks
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node
from kedro.runner import AbstractRunner
from kedro.runner.task import Task
from pluggy import PluginManager

from spml import tracking

log = logging.getLogger(__name__)

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
GPU = "GPU"  # the Dask worker resource a training node holds while it runs
DEVICE_PARAMETERS = "params:training"  # nodes reading it run on the study's device


@dataclass(frozen=True)
class NodeContext:
    """What a worker needs besides the node: the project folder relative paths start from
    (parameters such as `checkpoints`), the run it belongs to and its thread budget."""

    project_path: str
    run_id: str | None
    study_run: tracking.StudyRun | None
    torch_threads: int | None


def run_node_on_worker(
    node: Node, catalog: DataCatalog, context: NodeContext, *upstream: str
) -> str:
    """Run one node on a Dask worker with the project's hooks; `upstream` only orders tasks."""
    from kedro.framework.project import configure_project, settings

    configure_project("spml")  # also logs the project's lines (epochs, resumes) on the worker
    if Path(context.project_path).is_dir():  # else a worker started in its own copy of it
        os.chdir(context.project_path)
    if context.torch_threads:
        import torch

        torch.set_num_threads(context.torch_threads)
    hook_manager = _create_hook_manager()
    _register_hooks(hook_manager, settings.HOOKS)  # plugins' hooks stay with the driver
    with tracking.under_study_run(context.study_run):
        Task(
            node, catalog, is_async=False, hook_manager=hook_manager, run_id=context.run_id
        ).execute()
    return node.name


class DaskRunner(AbstractRunner):
    """Runs independent nodes at the same time on a Dask cluster (an existing one at
    `address` or $DASK_SCHEDULER_ADDRESS, else a local one started for the run)."""

    def __init__(
        self,
        is_async: bool = False,
        address: str | None = None,
        n_workers: int | None = None,
        torch_threads: int | None = None,
    ) -> None:
        super().__init__(is_async=is_async)
        self._address = address or os.environ.get(SCHEDULER_ENV) or None
        self._n_workers = n_workers
        self._torch_threads = torch_threads

    def _get_executor(self, max_workers: int) -> None:
        """Dask is the executor; Kedro's own pool is not used."""
        return None

    def _run(
        self,
        pipeline: Pipeline,
        catalog: DataCatalog,
        hook_manager: PluginManager | None = None,
        run_id: str | None = None,
    ) -> None:
        """Submit every node, then wait: the first node error is raised here, the rest cancelled."""
        from distributed import Client, as_completed

        check_every_handover_is_a_file(pipeline, catalog)
        cluster = None if self._address else start_local_cluster(self._n_workers)
        try:
            with Client(self._address or cluster) as client:
                gpu = gpu_resources(_training_device(catalog), _worker_resources(client))
                context = NodeContext(
                    os.getcwd(), run_id, tracking.study_run(), self._threads(client)
                )
                futures = self._submit(client, pipeline, catalog, hook_manager, context, gpu)
                try:
                    for done, future in enumerate(as_completed(futures.values()), start=1):
                        name = future.result()  # a node's error is raised here, on the driver
                        self._logger.info("Completed node %s (%d of %d)", name, done, len(futures))
                except BaseException:
                    client.cancel(list(futures.values()))
                    raise
        finally:
            if cluster is not None:
                cluster.close()

    def _submit(
        self,
        client: Any,
        pipeline: Pipeline,
        catalog: DataCatalog,
        hook_manager: PluginManager | None,
        context: NodeContext,
        gpu: Mapping[str, int] | None,
    ) -> dict[Node, Any]:
        """One task per node, in topological order, each depending on its upstream tasks."""
        futures: dict[Node, Any] = {}
        dependencies = pipeline.node_dependencies
        for node in pipeline.nodes:
            if hook_manager is not None:
                log_node_parameters(node, catalog, hook_manager)
            futures[node] = client.submit(
                run_node_on_worker,
                node,
                node_catalog(node, catalog),
                context,
                *(futures[parent] for parent in dependencies[node]),
                key=f"{node.name}-{context.run_id or 'run'}",
                resources=gpu if DEVICE_PARAMETERS in node.inputs else None,
                pure=False,
            )
        return futures

    def _threads(self, client: Any) -> int | None:
        """Torch threads per task: as asked, else a local cluster's share of the cores."""
        if self._torch_threads or self._address:
            return self._torch_threads
        workers = max(1, len(client.scheduler_info()["workers"]))
        return max(1, (os.cpu_count() or 1) // workers)


def start_local_cluster(n_workers: int | None) -> Any:
    """A cluster on this machine: one worker per GPU with two or more GPUs (dask-cuda), else
    `n_workers` CPU workers (2 by default), each running one task at a time."""
    import torch
    from distributed import LocalCluster

    gpus = torch.cuda.device_count()
    if gpus >= 2:
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError as error:
            raise ImportError(
                f"{gpus} GPUs found: the Dask runner starts one worker per GPU with dask-cuda; "
                "install it with `pip install -e '.[gpu]'`, or start workers yourself "
                f"(README, 'On a Dask cluster') and set {SCHEDULER_ENV}"
            ) from error
        return LocalCUDACluster(threads_per_worker=1, resources={GPU: 1}, dashboard_address=None)
    if gpus == 1:
        return LocalCluster(
            n_workers=1, threads_per_worker=1, resources={GPU: 1}, dashboard_address=None
        )
    return LocalCluster(n_workers=n_workers or 2, threads_per_worker=1, dashboard_address=None)


def check_every_handover_is_a_file(pipeline: Pipeline, catalog: DataCatalog) -> None:
    """Workers share only the catalog's files: a dataset passed between nodes in memory would
    never reach the next worker, so name it before anything runs."""
    handed_over = pipeline.all_outputs() & pipeline.all_inputs()
    in_memory = sorted(name for name in handed_over if isinstance(catalog.get(name), MemoryDataset))
    if in_memory:
        raise ValueError(
            f"The Dask runner needs every dataset passed between nodes in the catalog as a file "
            f"all workers can read; these are in memory only: {in_memory}"
        )


def node_catalog(node: Node, catalog: DataCatalog) -> DataCatalog:
    """The node's own datasets, sent with its task; artifacts go to this `kedro run`'s run."""
    datasets = {name: catalog.get(name) for name in (*node.inputs, *node.outputs)}
    active = mlflow.active_run()
    for dataset in datasets.values():
        if active is not None and hasattr(dataset, "run_id") and not dataset.run_id:
            dataset.run_id = active.info.run_id  # a worker has no active run to log into
    return DataCatalog(datasets)


def log_node_parameters(node: Node, catalog: DataCatalog, hook_manager: PluginManager) -> None:
    """Plugins (kedro-mlflow) log a node's parameters before it runs: do it here, where their
    hooks live, with only the parameters as inputs (the data stays with the workers)."""
    from kedro.framework.project import settings

    parameters = {name: catalog.load(name) for name in node.inputs if name.startswith("params:")}
    plugin_hooks = hook_manager.subset_hook_caller("before_node_run", remove_plugins=settings.HOOKS)
    plugin_hooks(node=node, catalog=catalog, inputs=parameters, is_async=False, run_id=None)


def _training_device(catalog: DataCatalog) -> str:
    """The device the study trains on, as configured (auto, cpu, cuda, cuda:1, ...)."""
    if DEVICE_PARAMETERS not in catalog:
        return "cpu"
    return str((catalog.load(DEVICE_PARAMETERS) or {}).get("device", "auto"))


def _worker_resources(client: Any) -> list[Mapping[str, float]]:
    """Each worker's advertised resources."""
    return [worker.get("resources", {}) for worker in client.scheduler_info()["workers"].values()]


def gpu_resources(device: str, workers: Iterable[Mapping[str, float]]) -> dict[str, int] | None:
    """What a training node asks the scheduler for: one GPU when the study trains on CUDA, so
    two models never share a GPU by accident; nothing on a CPU."""
    offered = any(resources.get(GPU, 0) >= 1 for resources in workers)
    if device.startswith("cuda"):
        if not offered:
            raise ValueError(
                f"Parameter training.device={device!r} but no Dask worker offers a {GPU} "
                f"resource: start one worker per GPU with `dask worker ... --resources {GPU}=1`"
            )
        return {GPU: 1}
    return {GPU: 1} if device == "auto" and offered else None
