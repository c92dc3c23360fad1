"""A fine-tuning YAML from a template: the baseline's model and recipe plus run-time settings.

    python -m steps.write_finetune_conf conf/mitigate/ewc.yaml exp/mitigate/confs/ewc_100.yaml \
        --model-from exp/lstm --set max_steps=120 --set init_from=exp/mitigate/fisher/baseline.pt \
        --set regularizers.ewc.fisher=exp/mitigate/fisher/fisher.pt --set regularizers.ewc.lambda=100

Why a step: paths (``init_from``, the Fisher file) and the sweep value (``lambda``) are only known
when the stage runs, and the model block must be the baseline's own, whatever conf/train says now.
So must what it was trained with (``INHERITED``): a fine-tuning continues the baseline's recipe.
With SpecAugment on (the data default) under a baseline trained without it, every stage-8
fine-tuning, the untargeted control too, raised test WER by 1.4-1.8 points.
The result is checked as a training config before it is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from steps.tasks import check_train_conf
from steps.utils import FairstreamError, read_config, write_text_atomic
from steps.utils.cli import CONTEXT, step_main
from steps.utils.config import load_yaml

# what a fine-tuning takes from the baseline run besides its model block (dotted keys)
INHERITED = ("data.spec_augment", "ctc_scale")


def set_key(conf: dict[str, Any], dotted: str, value: Any) -> None:
    """``a.b.c=v``: nested assignment, creating mappings on the way."""
    *parents, last = dotted.split(".")
    node = conf
    for k in parents:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise FairstreamError(f"--set {dotted}: {k} is not a mapping")
    node[last] = value


def get_key(conf: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    """(found, value) of ``a.b.c`` in nested mappings."""
    node: Any = conf
    for k in dotted.split("."):
        if not isinstance(node, dict) or k not in node:
            return False, None
        node = node[k]
    return True, node


def scalar(text: str) -> Any:
    """A YAML scalar, with ``1e4`` read as a number (YAML 1.1 wants ``1.0e4``)."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


@click.command(context_settings=CONTEXT)
@click.argument("template", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--model-from",
    type=click.Path(path_type=Path),
    default=None,
    help="Copy this run's model block, augmentation and CTC weight (INHERITED).",
)
@click.option("--set", "sets", multiple=True, help="KEY.PATH=VALUE (VALUE parsed as YAML); repeatable.")
@step_main
def main(template: Path, out: Path, model_from: Path | None, sets: tuple[str, ...]) -> None:
    """Write OUT: TEMPLATE with the model block and recipe of --model-from, then the --set values."""
    conf = load_yaml(template)
    if model_from is not None:
        base = read_config(model_from)
        conf["model"] = base["model"]
        for key in INHERITED:
            found, value = get_key(base, key)
            if found:
                set_key(conf, key, value)
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise FairstreamError(f"--set {item!r}: expected KEY=VALUE")
        set_key(conf, key, scalar(value))
    check_train_conf(conf, str(out))
    write_text_atomic(out, yaml.safe_dump(conf, sort_keys=False))


if __name__ == "__main__":
    main()
