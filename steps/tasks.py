"""Training configs and the tasks they name: the one table of ``task:`` values.

It sits above the libraries (:mod:`steps.nnet` defines the single-talker task, and
:mod:`steps.multitalker` the separator on top of it), so that no library imports the task
built on it; step commands resolve a config's task here and hand the object down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from steps.multitalker.task import MultitalkerTask
from steps.nnet.task import Task
from steps.nnet.trainer import TrainConf
from steps.utils import FairstreamError
from steps.utils.config import from_dict, load_yaml

TASKS: dict[str, type[Task]] = {"transducer": Task, "multitalker": MultitalkerTask}


def make_task(name: str, options: dict[str, Any] | None = None, where: str = "task_conf") -> Task:
    if name not in TASKS:
        raise FairstreamError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name](options, where=where)


def check_train_conf(data: dict, where: str) -> tuple[TrainConf, Task]:
    """A training config with its task, model and data blocks checked, so that bad keys fail
    before any training."""
    conf = from_dict(TrainConf, data, where=where)
    task = make_task(conf.task, conf.task_conf, where=f"{where}: task_conf")
    task.model_conf(conf.model, where=f"{where}: model")
    conf.data_conf()
    return conf, task


def load_train_conf(path: Path, seed: int | None, max_steps: int | None = None) -> tuple[TrainConf, Task]:
    """The YAML at ``path``, checked, with the command line's seed and update budget if given."""
    data = load_yaml(path)
    if seed is not None:
        data["seed"] = seed
    if max_steps is not None:
        if max_steps < 1:
            raise FairstreamError(f"--max-steps must be >= 1, got {max_steps}")
        data["max_steps"] = max_steps
    return check_train_conf(data, str(path))
