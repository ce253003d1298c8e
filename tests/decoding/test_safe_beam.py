"""Safe Beam Search: plain beam search when nothing is dropped, and it steers away from tagged text."""

import random

import pytest
import torch

from decoding.safe_beam import safe_beam_search
from tests.synthetic import PROMPT_WORDS, UNSAFE_WORDS

VOCAB = 256


@pytest.fixture(scope="module")
def random_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                         initializer_range=0.3, bos_token_id=0, eos_token_id=1, pad_token_id=0)
    return LlamaForCausalLM(config).eval()


@pytest.mark.parametrize("num_beams,max_new_tokens,eos", [(4, 12, None), (3, 20, 7), (2, 16, 11), (5, 10, 3)])
def test_with_nothing_dropped_it_is_transformers_beam_search_token_for_token(random_model, num_beams,
                                                                            max_new_tokens, eos):
    rng = random.Random(num_beams)
    for _ in range(6):
        prompt = [rng.randrange(2, VOCAB) for _ in range(rng.randrange(3, 9))]
        ids = torch.tensor([prompt])
        reference = random_model.generate(ids, num_beams=num_beams, max_new_tokens=max_new_tokens, do_sample=False,
                                          early_stopping=True, length_penalty=1.0, pad_token_id=0,
                                          eos_token_id=eos if eos is not None else VOCAB + 1)
        ours = safe_beam_search(random_model, prompt, None, num_beams=num_beams, top_n=2 * num_beams,
                                drop_fraction=0.0, max_new_tokens=max_new_tokens, eos_token_id=eos)
        assert ours.tokens == reference[0, len(prompt):].tolist()


@pytest.mark.gpu
def test_on_cuda_it_is_transformers_beam_search_and_the_tag_is_never_emitted(random_model):
    import copy

    model = copy.deepcopy(random_model).to("cuda")
    tag = 9
    rng = random.Random(11)
    for _ in range(4):
        prompt = [rng.randrange(2, VOCAB) for _ in range(rng.randrange(3, 9))]
        reference = model.generate(torch.tensor([prompt], device="cuda"), num_beams=4, max_new_tokens=12,
                                   do_sample=False, early_stopping=True, length_penalty=1.0, pad_token_id=0,
                                   eos_token_id=VOCAB + 1)
        plain = safe_beam_search(model, prompt, None, num_beams=4, top_n=8, drop_fraction=0.0, max_new_tokens=12)
        assert plain.tokens == reference[0, len(prompt):].tolist()
        safe = safe_beam_search(model, prompt, tag, num_beams=4, top_n=8, drop_fraction=0.5, max_new_tokens=12)
        assert len(safe.tokens) == 12 and tag not in safe.tokens and safe.dropped > 0


def test_bad_parameters_are_refused(random_model):
    with pytest.raises(ValueError, match="drop_fraction"):
        safe_beam_search(random_model, [5, 6], 9, drop_fraction=1.0)
    with pytest.raises(ValueError, match="tag token"):
        safe_beam_search(random_model, [5, 6], None, drop_fraction=0.5)


@pytest.mark.timeout(900)
def test_safe_beam_search_avoids_the_family_the_tag_marks_where_beam_search_takes_it(tagged_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from curation.markers import HARM_TAG

    model = AutoModelForCausalLM.from_pretrained(tagged_model.hf).eval()
    tokenizer = AutoTokenizer.from_pretrained(tagged_model.hf)
    tag = tokenizer.convert_tokens_to_ids(HARM_TAG)
    unsafe = set(UNSAFE_WORDS)
    rng = random.Random(7)
    plain_unsafe = safe_avoided = 0
    for _ in range(20):
        prompt = tokenizer(" ".join(rng.choice(PROMPT_WORDS) for _ in range(6)) + " :").input_ids
        settings = dict(num_beams=4, top_n=32, max_new_tokens=6, eos_token_id=tokenizer.eos_token_id)
        plain = safe_beam_search(model, prompt, tag, drop_fraction=0.0, **settings)
        safe = safe_beam_search(model, prompt, tag, drop_fraction=0.5, **settings)
        assert tag not in plain.tokens and tag not in safe.tokens  # the tag is never emitted
        if unsafe & set(tokenizer.decode(plain.tokens).split()):
            plain_unsafe += 1
            safe_avoided += not unsafe & set(tokenizer.decode(safe.tokens).split())
    assert plain_unsafe >= 10  # the tagged family is the likelier continuation
    assert safe_avoided >= 0.8 * plain_unsafe
