"""RunConfig: one run, as YAML/JSON plus ``--set key.path=value`` overrides.

Component slots (``model``, ``dataset``, ...) take ``{name: ..., <options>}`` or just a name; the options
are validated by the chosen component's own ``Config`` once plugins are loaded (see ``resolve.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from gencls_core.errors import ConfigError, did_you_mean, not_a_file
from gencls_core.interfaces import ComponentSpec
from gencls_core.safeyaml import YamlTooLarge, load_yaml


class RewardSpec(ComponentSpec):
    """A reward slot: the component's name, its weight in the total reward, and its options."""

    weight: float = Field(1.0, description="weight of this reward in the sum RL trainers maximise")


Size = int | float


class SplitConfig(BaseModel):
    """Seeded, stratified splits. Sizes are counts (int) or fractions (float < 1)."""

    model_config = ConfigDict(extra="forbid")
    test_size: Size = Field(200, description="test examples (carved from the data, or sampled from its test split)")
    validation_size: Size = Field(0, description="validation examples carved from train (0 = none)")
    train_size: Size | None = Field(None, description="cap on training examples (None = all remaining)")
    train_label_noise: float = Field(
        0.0, ge=0, lt=1, description="flip this share of the training labels, each to another class drawn "
                                     "uniformly (seeded), to study noisy labels; validation and test labels stay "
                                     "clean, and run.json records every flipped row")
    evaluate: Literal["test", "validation"] = Field(
        "test", description="the split each stage is evaluated on: validation while choosing settings, so the "
                            "test split is read once, for the final result")

    @field_validator("test_size", "validation_size", "train_size")
    @classmethod
    def _size(cls, value: Size | None, info: Any) -> Size | None:
        if value is None or (info.field_name == "validation_size" and value == 0):
            return value
        if isinstance(value, float) and not value.is_integer():
            if not 0 < value < 1:
                raise ValueError(f"{value} is neither a count nor a fraction between 0 and 1")
            return value
        if value < 1:
            raise ValueError(f"{value}: must be at least 1 example (or a fraction between 0 and 1)")
        return int(value)

    @model_validator(mode="after")
    def _validation_to_evaluate(self) -> SplitConfig:
        if self.evaluate == "validation" and not self.validation_size:
            raise ValueError("evaluate: validation needs a validation split; set splits.validation_size")
        return self


class TruncationConfig(BaseModel):
    """How prompts longer than the model can take are handled: the input text is cut (never the instructions,
    demonstrations or answer), or the run stops naming the row."""

    model_config = ConfigDict(extra="forbid")
    policy: Literal["truncate", "error"] = Field("truncate", description="truncate the text, or stop with an error")
    max_prompt_tokens: int | None = Field(None, ge=8, description="longest rendered prompt in tokens (null: the "
                                                                  "model's context less reserve_tokens)")
    reserve_tokens: int = Field(64, ge=0, description="tokens kept free for the answer when the limit is the "
                                                      "model's context")


class LongTextConfig(BaseModel):
    """Texts whose prompt is over the limit: cut them (``truncate``, the ``truncation`` policy), read them whole in
    overlapping windows that each fit the prompt (``chunks``), every window decoded and the per-label
    probabilities aggregated, or keep their most informative sentences (``select``). The same in decoding,
    ``predict``, ``serve``, the estimator and training (where each window is an example with its text's
    label)."""

    model_config = ConfigDict(extra="forbid")
    policy: Literal["truncate", "chunks", "select"] = Field(
        "truncate", description="truncate: cut the text; chunks: decode it in windows and aggregate; select: keep "
                                "the sentences with the rarest words (by the training texts) that fit, in order")
    window_tokens: int | None = Field(None, ge=8, description="text tokens per window (null: as many as fit the "
                                                              "prompt limit)")
    overlap_tokens: int = Field(32, ge=0, description="tokens each window shares with the one before it")
    aggregate: Literal["mean", "max", "vote"] = Field(
        "mean", description="mean: of the windows' log-probabilities per label; max: the highest probability per "
                            "label; vote: the windows' labels, ties to the higher mean probability (or the class "
                            "listed first)")
    max_windows: int = Field(16, ge=1, description="most windows per text; a longer text gets this many, spread "
                                                   "evenly over it (counted in metrics.json as windows_capped)")
    train_windows: Literal["all", "one", "epoch"] = Field(
        "all", description="chunks, in training: all, every window of a text is an example with its label; one, a "
                           "single window per text, drawn at random (seeded by the run's seed), so a training "
                           "epoch costs what one window per text costs; epoch, as one but drawn afresh every epoch "
                           "(sft and label-pg)")

    @model_validator(mode="after")
    def _overlap_below_window(self) -> LongTextConfig:
        if self.window_tokens is not None and self.overlap_tokens >= self.window_tokens:
            raise ValueError(f"long_text.overlap_tokens ({self.overlap_tokens}) must be below window_tokens "
                             f"({self.window_tokens})")
        return self


class LexicalConfig(BaseModel):
    """Lexical evidence (``gencls_core/lexical.py``): TF-IDF + logistic regression fitted on the training split,
    reading every word of a text, blended into the decoder's label scores. Needs a decoder with label scores
    (perplexity) and one label per text."""

    model_config = ConfigDict(extra="forbid")
    weight: float = Field(0.0, ge=0, lt=1, description="w in (1 - w) * log p_decoder(label | text) + w * log "
                                                       "p_bag(label | text); 0: the decoder alone. The auto recipe "
                                                       "chooses it on the validation split")
    C: float | None = Field(None, gt=0, description="the logistic regression's inverse regularisation (null: "
                                                    "chosen by validation macro-F1 from 0.1, 1, 10, 100)")


class LabelSetConfig(BaseModel):
    """Multi-label data (``dataset.multi_label``): a text gets every label whose probability (the decoder's
    ``probs``) reaches the threshold; a decoder without probabilities (``generate``) has its answer read as a
    list of labels instead."""

    model_config = ConfigDict(extra="forbid")
    threshold: float | dict[str, float] | None = Field(
        None, description="the probability a label needs: one for every label, or one per label (null: chosen on "
                          "the validation split for the best micro-F1, 1/number of labels without one)")
    per_label: bool = Field(False, description="choose one threshold per label on the validation split (each "
                                               "label's best F1) instead of one for every label")

    @field_validator("threshold")
    @classmethod
    def _probability(cls, value: Any) -> Any:
        values = value.values() if isinstance(value, dict) else [] if value is None else [value]
        if any(not 0 <= v <= 1 for v in values):
            raise ValueError(f"{value}: a threshold is a probability between 0 and 1")
        return value


class RunConfig(BaseModel):
    """Everything one run needs. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")
    seed: int = Field(0, ge=0, le=2**32 - 1, strict=True,  # strict: `seed: true` is not seed 1
                      description="seed for splits, sampling and training (0 to 2**32-1)")
    output_dir: Path = Field(Path("runs"), description="parent folder of run directories")
    run_name: str | None = Field(None, description="run directory name under output_dir (default: "
                                                   "time-dataset-model); a name, not a path")
    plugins: list[str] = Field(default_factory=list, description="third-party plugins to load, in order")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = cuda when available")
    progress: bool = Field(True, description="show progress bars")
    model: ComponentSpec = Field(default_factory=ComponentSpec, description="model source")
    dataset: ComponentSpec = Field(default_factory=ComponentSpec, description="dataset source")
    splits: SplitConfig = Field(default_factory=SplitConfig)
    truncation: TruncationConfig = Field(default_factory=TruncationConfig)
    long_text: LongTextConfig = Field(default_factory=LongTextConfig)
    lexical: LexicalConfig = Field(default_factory=LexicalConfig)
    label_sets: LabelSetConfig = Field(default_factory=LabelSetConfig)
    labels: ComponentSpec = Field(default_factory=ComponentSpec, description="label scheme for training")
    prompt: ComponentSpec = Field(default_factory=ComponentSpec, description="prompt strategy for training")
    inference_labels: ComponentSpec | None = Field(None, description="label scheme at inference (default: labels)")
    inference_prompt: ComponentSpec | None = Field(None, description="prompt strategy at inference (default: prompt)")
    decoder: ComponentSpec = Field(default_factory=ComponentSpec, description="how answers become labels")
    trainers: list[ComponentSpec] = Field(default_factory=list, description="training stages, in order")
    recipe: ComponentSpec | None = Field(None, description="a recipe instead of trainers: the stages for the data "
                                                           "and which of them to keep, chosen on the validation split")
    rewards: list[RewardSpec] | None = Field(None, description="rewards for RL trainers (default: label-match)")
    evaluate_untrained: bool = Field(False, description="evaluate before the first training stage, as stage 0")
    evaluators: list[ComponentSpec] | None = Field(None, description="metrics (default: all built-in)")
    start_from: Path | None = Field(
        None, description="a finished run directory (or a stage's model folder) whose trained model this run "
                          "starts from: evaluate it with another prompt, label scheme or decoder, or train further "
                          "stages on it")

    # where the values came from, for error messages: the config file's name, and the --set overrides
    _source: str = PrivateAttr("config")
    _overrides: tuple[str, ...] = PrivateAttr(())

    def blame(self, path: str) -> str:
        """Where the value at key ``path`` was given: ``--set ...`` or the config file."""
        return blame(path, self._source, self._overrides)

    @model_validator(mode="after")
    def _recipe_or_trainers(self) -> RunConfig:
        if self.recipe is not None and self.trainers:
            raise ValueError("give a recipe or trainers, not both: a recipe chooses the training stages itself")
        return self

    @field_validator("run_name")
    @classmethod
    def _a_name(cls, value: str | None) -> str | None:
        if value is not None and (value in ("", ".", "..") or Path(value).name != value or "\\" in value):
            raise ValueError(f"{value!r} is not a folder name: a run name may not hold a path (/, \\, .., or an "
                             f"absolute path); put the parent folder in output_dir")
        return value


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a YAML or JSON config file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} {not_a_file(path)}")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else load_yaml(text)
    except (json.JSONDecodeError, yaml.YAMLError, YamlTooLarge, RecursionError) as err:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys at the top level")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides; values are parsed as YAML scalars/lists."""
    data = json.loads(json.dumps(data, default=str))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. decoder.name=generate")
        try:
            set_path(data, key.split("."), load_yaml(raw) if raw else "")
        except (ConfigError, IndexError, ValueError, yaml.YAMLError) as err:
            raise ConfigError(f"--set {item!r}: {err}") from None
    return data


def set_path(data: dict[str, Any], parts: list[str], value: Any) -> None:
    """Put ``value`` at key path ``parts`` (list items by index), expanding a name shorthand on the way."""
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = node[int(part)] if isinstance(node, list) else node.get(part)
        if isinstance(nxt, str):  # a name shorthand: expand so options can be added
            nxt = {"name": nxt}
        if nxt is None:
            nxt = {}
        if isinstance(node, list):
            node[int(part)] = nxt
        else:
            node[part] = nxt
        if not isinstance(nxt, (dict, list)):
            raise ConfigError(f"{'.'.join(parts[:i + 1])} is not a mapping")
        node = nxt
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value


def build_config(config: RunConfig | dict[str, Any] | str | Path | None = None,
                 overrides: list[str] | None = None) -> RunConfig:
    """A validated RunConfig from an object, a dict or a file, with overrides applied."""
    source = "config"
    if isinstance(config, RunConfig):
        data = config.model_dump(mode="json", exclude_unset=True)
    elif isinstance(config, (str, Path)):
        source = str(config)
        data = read_config_file(config)
    else:
        data = dict(config or {})
    given = tuple(overrides or [])
    data = apply_overrides(data, list(given))
    try:
        validated = RunConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, RunConfig, source, overrides=given)) from None
    validated._source, validated._overrides = source, given
    return validated


def blame(path: str, source: str, overrides: tuple[str, ...] | list[str]) -> str:
    """``--set KEY=VALUE`` when an override set the key ``path`` (or a key above or below it), else ``source``."""
    for item in reversed(overrides):
        key = item.partition("=")[0]
        if path == key or path.startswith(f"{key}.") or key.startswith(f"{path}."):
            return f"--set {item}"
    return source


def format_validation_error(err: ValidationError, model: type[BaseModel], source: str, prefix: str = "",
                            overrides: tuple[str, ...] | list[str] = ()) -> str:
    """One line per problem: where it was given, the key path, what is wrong, and a close match for typos."""
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        path = ".".join([prefix, *loc] if prefix else loc)
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            fields = _fields_at(model, loc[:-1])
            msg = f"unknown key{did_you_mean(loc[-1], fields)}; allowed: {', '.join(fields)}"
        lines.append(f"{blame(path, source, overrides)}: {path}: {msg}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _fields_at(model: type[BaseModel], loc: list[str]) -> list[str]:
    """Field names of the (nested) model found at ``loc``."""
    for part in loc:
        if part.isdigit():
            continue
        field = model.model_fields.get(part)
        inner = _model_in(field.annotation) if field else None
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found:
            return found
    return None
