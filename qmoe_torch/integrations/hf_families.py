"""The MoE model families of the installed transformers, found by introspection, and a
tiny randomly initialised model of each (nothing downloaded).

A family is a ``transformers.models.<name>.modeling_<name>`` module defining a block
with an ``experts`` child. Its tiny model is the family's causal LM (or its text model,
or its text-only conditional-generation model) built from the family's own config class
with every size shrunk (hidden 32, 2 layers, 8 experts, top-2, ...), so each check of
:func:`~qmoe_torch.integrations.huggingface.replace_routers` runs in milliseconds.

``python -m qmoe_torch.integrations.hf_families`` prints the table of families that
``replace_routers`` supports and refuses (with the reason), as pasted in the README.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import warnings
from dataclasses import dataclass

import torch
from torch import nn

# sizes of the tiny models; the expert count differs from every other size so that no
# other projection has as many outputs as there are experts
TINY_SIZES = {
    "hidden_size": 32,
    "intermediate_size": 48,
    "moe_intermediate_size": 24,
    "shared_expert_intermediate_size": 24,
    "expert_intermediate_size": 24,
    "ffn_hidden_size": 48,
    "ffn_dim": 48,
    "d_model": 32,
    "d_ff": 48,
    "d_kv": 8,
    "num_hidden_layers": 2,
    "num_layers": 2,
    "num_decoder_layers": 2,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "num_attention_heads": 4,
    "num_heads": 4,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "vocab_size": 96,
    "max_position_embeddings": 64,
    "num_experts": 6,
    "num_local_experts": 6,
    "n_routed_experts": 6,
    "moe_num_experts": 6,
    "num_experts_per_tok": 2,
    "moe_topk": 2,
    "top_k_experts": 2,
    "n_group": 2,
    "topk_group": 1,
    "first_k_dense_replace": 0,
    "q_lora_rank": 16,
    "kv_lora_rank": 16,
    "qk_rope_head_dim": 8,
    "qk_nope_head_dim": 8,
    "v_head_dim": 8,
    "router_hidden_size": 12,
    "sliding_window": 16,
}


# what a family's config needs beyond the shared sizes to build 2 MoE layers at tiny size
# (its MoE-layer schedule, sub-config dicts, settings its validation ties together)
FAMILY_SETTINGS: dict[str, dict] = {
    "beam": {"mlp_layer_types": ["sparse", "sparse"]},
    "dbrx": {
        "n_layers": 2,
        "d_model": 32,
        "n_heads": 4,
        "max_seq_len": 64,
        "attn_config": {"kv_n_heads": 2, "rope_theta": 10000.0, "clip_qkv": 8.0},
        "ffn_config": {"ffn_hidden_size": 48, "moe_num_experts": 6, "moe_top_k": 2},
    },
    "deepseek_ocr2": {"mlp_layer_types": ["sparse", "sparse"]},
    "dots1": {"n_shared_experts": 1},
    "dots3_note": {"num_key_value_heads": 4},
    "ernie4_5_vl_moe": {"moe_intermediate_size": [24, 24], "num_attention_heads": 2},
    "flint": {"mlp_only_layers": []},
    "glm4v_moe": {
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": [1, 1, 0],
            "partial_rotary_factor": 0.5,
        }
    },
    "gemma4": {"enable_moe_block": True, "moe_intermediate_size": 24},
    "glm5_next": {"num_key_value_heads": 4, "qk_rope_head_dim": 0},
    "granitemoehybrid": {"mamba_n_heads": 8, "mamba_d_state": 8, "mamba_d_head": 8},
    "hy_v4_vl": {"rope_parameters": {"rope_type": "default", "mrope_section": [2, 1, 1]}},
    "jamba": {
        "layer_types": None,
        "attn_layer_offset": 1,
        "attn_layer_period": 2,
        "expert_layer_offset": 0,
        "expert_layer_period": 1,
    },
    "longcat_flash": {"head_dim": 8},
    "lfm2_moe": {"layer_types": ["full_attention", "full_attention"], "num_dense_layers": 0},
    "nllb_moe": {"encoder_sparse_step": 1, "decoder_sparse_step": 1},
    "step3p7": {"moe_layers_enum": "0,1"},
    "switch_transformers": {
        "num_sparse_encoder_layers": 1,
        "num_sparse_decoder_layers": 1,
        "decoder_start_token_id": 0,
    },
    "unlimited_ocr": {"num_key_value_heads": 4},
    "zaya": {"num_experts_per_tok": 1},
}


@dataclass(frozen=True)
class Family:
    """One MoE family: its name (the ``model_type`` folder), model and config classes."""

    name: str
    model_class: type
    config_class: type

    @property
    def generates(self) -> bool:
        return hasattr(self.model_class, "generate") and (
            self.model_class.__name__.endswith(("ForCausalLM", "ForConditionalGeneration"))
        )


def _defines_experts(path: str) -> bool:
    """Whether a modeling file assigns ``self.experts`` (read as text: importing every
    modeling module of transformers takes a minute)."""
    try:
        with open(path, encoding="utf-8") as source:
            return re.search(r"self\.experts\s*=", source.read()) is not None
    except OSError:
        return False


def _has_moe_block(module) -> bool:
    for value in vars(module).values():
        if not (
            inspect.isclass(value)
            and value.__module__ == module.__name__
            and issubclass(value, nn.Module)
        ):
            continue
        try:
            source = inspect.getsource(value.__init__)
        except (OSError, TypeError):
            continue
        if re.search(r"self\.experts\s*=", source):
            return True
    return False


def _model_class(module) -> type | None:
    """The family's causal LM, else its text model, else a text-only seq2seq model."""
    classes = {
        name: value
        for name, value in vars(module).items()
        if inspect.isclass(value) and value.__module__ == module.__name__
    }
    for suffix in ("ForCausalLM", "TextModel", "ForConditionalGeneration"):
        for name, value in sorted(classes.items()):
            config_class = getattr(value, "config_class", None)
            if not name.endswith(suffix) or config_class is None:
                continue
            if suffix == "ForConditionalGeneration" and getattr(config_class, "sub_configs", {}):
                continue
            return value
    return None


def moe_families() -> list[Family]:
    """Every family of the installed transformers with an MoE block and a text model."""
    import transformers.models

    families = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for info in pkgutil.iter_modules(transformers.models.__path__):
            folder = os.path.join(transformers.models.__path__[0], info.name)
            if not _defines_experts(os.path.join(folder, f"modeling_{info.name}.py")):
                continue
            try:
                module = importlib.import_module(
                    f"transformers.models.{info.name}.modeling_{info.name}"
                )
            except Exception:  # a family needing an optional dependency that is missing
                continue
            if not _has_moe_block(module):
                continue
            model_class = _model_class(module)
            if model_class is not None:
                families.append(Family(info.name, model_class, model_class.config_class))
    return families


def _shrunk(config_class: type, overrides: dict) -> dict:
    """The tiny sizes among ``config_class``'s settings, fitted to its defaults."""
    defaults = config_class()
    known = set(defaults.to_dict()) | set(inspect.signature(config_class.__init__).parameters)
    kwargs = {key: value for key, value in TINY_SIZES.items() if key in known}
    vocabulary = TINY_SIZES["vocab_size"]
    for key, value in defaults.to_dict().items():  # special tokens inside the tiny vocabulary
        if key.endswith("_token_id") and isinstance(value, int) and value >= vocabulary:
            kwargs[key] = 1
    if "kv_lora_rank" in known:  # multi-head latent attention: one key/value head per head
        kwargs["num_key_value_heads"] = kwargs.get("num_attention_heads", 4)
        kwargs.pop("head_dim", None)
    overrides = dict(overrides)
    layer_types = getattr(defaults, "layer_types", None)
    if isinstance(layer_types, list) and layer_types:
        # one layer of each kind (a hybrid's cache needs an attention layer), in order
        kinds = list(dict.fromkeys(layer_types))
        if kinds == ["linear_attention"]:
            kinds.append("full_attention")
        kwargs["layer_types"] = (kinds * 2)[:2]
    kwargs.update(overrides)
    # a None setting leaves the family's default alone
    return {key: value for key, value in kwargs.items() if value is not None}


def tiny_config(family: Family, **overrides):
    """The family's config with every size shrunk, eager attention, 2 MoE layers."""
    kwargs = _shrunk(family.config_class, {**FAMILY_SETTINGS.get(family.name, {}), **overrides})
    config = family.config_class(**kwargs)
    config._attn_implementation = "eager"
    return config


def tiny_model(family: Family, seed: int = 0, **overrides) -> nn.Module:
    """A tiny randomly initialised model of ``family`` (float32, eval mode)."""
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = family.model_class(tiny_config(family, **overrides))
    return model.eval()


def _support(family: Family) -> tuple[str, str]:
    """("supported" or "refused", the router swapped or the reason)."""
    from .huggingface import plan_routers

    try:
        model = tiny_model(family)
    except Exception as error:  # noqa: BLE001 - reported in the table
        return "not built", f"tiny model: {type(error).__name__}: {error}"[:160]
    try:
        plans, legacy = plan_routers(model)
    except ValueError as error:
        # the first block's problem, without the model-level preamble
        problem = str(error).split("no gate can replace them: ", 1)[-1].split(" | ")[0]
        return "refused", problem[:400]
    if not plans and not legacy:
        return "not built", "the tiny config built no MoE layer"
    plan = plans[0]
    return "supported", f"`{plan.path.split('.')[-1]}` ({plan.native_class.__name__})"


def family_table() -> str:
    """The markdown table of every family and what replace_routers does with it."""
    rows = ["| family | model built | replace_routers | router / reason |", "|---|---|---|---|"]
    for family in moe_families():
        status, detail = _support(family)
        rows.append(
            f"| {family.name} | {family.model_class.__name__} | {status} | "
            f"{detail.replace('|', '/')} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(family_table())
