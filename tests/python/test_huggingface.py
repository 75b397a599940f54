"""replace_routers on tiny randomly initialised Hugging Face MoE models (no downloads)."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from qmoe_torch.integrations.huggingface import replace_routers  # noqa: E402


def tiny(kind: str):
    common = dict(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    if kind == "mixtral":
        config = transformers.MixtralConfig(num_local_experts=4, num_experts_per_tok=2, **common)
        return transformers.MixtralForCausalLM(config)
    if kind == "qwen2_moe":
        config = transformers.Qwen2MoeConfig(
            num_experts=4,
            num_experts_per_tok=2,
            moe_intermediate_size=24,
            shared_expert_intermediate_size=24,
            **common,
        )
        return transformers.Qwen2MoeForCausalLM(config)
    config = transformers.OlmoeConfig(num_experts=4, num_experts_per_tok=2, **common)
    return transformers.OlmoeForCausalLM(config)


@pytest.mark.parametrize("kind", ["mixtral", "qwen2_moe", "olmoe"])
def test_replaced_routers_train_and_keep_the_aux_loss(kind: str) -> None:
    torch.manual_seed(0)
    model = tiny(kind)
    ids = torch.randint(0, 64, (2, 12))
    model(ids)  # the model installs its output hooks on the native routers here
    before = {k: v.clone() for k, v in model.state_dict().items() if ".gate." not in k}
    replaced = replace_routers(model, layers=2)
    assert len(replaced) == 2 and all(name.endswith("gate") for name in replaced)
    after = model.state_dict()
    for key, value in before.items():  # everything but the routers is untouched
        assert torch.equal(after[key], value), key
    for name in replaced:
        router = model.get_submodule(name)
        assert router.num_experts == 4 and router.top_k == 2
        assert router.quantum_gate.parameter_counts()["quantum"] > 0

    out = model(ids, labels=ids, output_router_logits=True)
    assert out.aux_loss is not None and float(out.aux_loss.detach()) > 0
    assert len(out.router_logits) == 2

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = float(out.loss.detach())
    for _ in range(5):
        loss = model(ids, labels=ids, output_router_logits=True).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(model(ids, labels=ids).loss.detach()) < first
    gate = model.get_submodule(replaced[0]).quantum_gate
    assert gate.circuit_weights.grad is not None and gate.circuit_weights.grad.abs().sum() > 0


def test_a_model_without_moe_blocks_is_left_alone() -> None:
    config = transformers.LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    assert replace_routers(transformers.LlamaForCausalLM(config)) == []


def test_replacing_twice_replaces_nothing_more() -> None:
    model = tiny("mixtral")
    assert len(replace_routers(model)) == 2
    assert replace_routers(model) == []
