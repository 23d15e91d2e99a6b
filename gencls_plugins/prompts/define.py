"""``gencls define``: draft a definition per class with a model, from a few training examples of each class,
into an editable YAML file for the ``definitions`` prompt option."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import click

ASK = ('Task: {task}\nHere are texts of the category "{label}":\n{examples}\n'
       'In one sentence, define the category "{label}" so that someone could recognise new texts of it.')


def draft_definitions(lm: Any, texts: list[str], golds: list[str], classes: list[str], task: str, *,
                      examples: int = 3, max_new_tokens: int = 48, max_chars: int = 300,
                      seed: int = 0) -> dict[str, str]:
    """Class -> the model's one-sentence definition, written from ``examples`` seeded training texts of it."""
    import torch

    from gencls_core.chat import render_prompt

    rng = random.Random(seed)
    drafts = {}
    for label in classes:
        pool = [t for t, g in zip(texts, golds) if g == label]
        shown = "\n".join(f"- {t[:max_chars]}" for t in rng.sample(pool, min(examples, len(pool))))
        prompt = render_prompt(lm.tokenizer, [{"role": "user", "content": ASK.format(task=task, label=label,
                                                                                     examples=shown)}])
        ids = lm.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(lm.model.device)
        with torch.no_grad():
            out = lm.model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=lm.tokenizer.pad_token_id or lm.tokenizer.eos_token_id)
        text = lm.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        drafts[label] = " ".join(text.split()) or f"Texts of the category {label}."
    return drafts


def register_define(cli: Any, app: Any) -> None:
    @cli.command()
    @click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                  help="run config naming the model and dataset (default: the embedded default)")
    @click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a config key")
    @click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
                  help="YAML file to write (refuses to overwrite without --force)")
    @click.option("--examples", "-k", default=3, show_default=True, help="training examples shown per class")
    @click.option("--max-new-tokens", default=48, show_default=True, help="length limit of each definition")
    @click.option("--force", is_flag=True, help="overwrite --output")
    def define(config_file, overrides, output, examples, max_new_tokens, force):
        """Draft a definition per class with the run's model, from a few training examples of each class.

        Writes an editable YAML file (class: definition) for the prompt option `definitions`, e.g.
        gencls run --set prompt.definitions=defs.yaml
        """
        import yaml

        from gencls_core.errors import UsageError
        from gencls_core.results import write_text_atomic

        if output.exists() and not force:
            raise UsageError(f"{output} exists; pass --force to overwrite it")
        ctx = app.loaded_context(config_file, list(overrides))
        ctx.lm.model.eval()
        train = ctx.data.splits["train"]
        drafts = draft_definitions(ctx.lm, list(train["text"]), list(train["label"]), ctx.data.labels,
                                   ctx.data.task, examples=examples, max_new_tokens=max_new_tokens, seed=ctx.seed)
        header = (f"# Category definitions drafted by `gencls define` with {ctx.lm.ref} from "
                  f"{examples} training examples per class.\n# Edit freely, then: gencls run --set "
                  f"prompt.definitions={output}\n")
        write_text_atomic(output, header + yaml.safe_dump(drafts, sort_keys=False, allow_unicode=True, width=100))
        click.echo(f"wrote {len(drafts)} definitions to {output}")
