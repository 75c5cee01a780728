# ruff: noqa: E402
# (E402: the imports that need verl and TRL come after the explicit check that skips without them.)
"""medrl.reward inside the real RL clients: verl 0.9.1's dataset, config and reward loop, and TRL's GRPOTrainer.

These tests need verl and TRL, which the main virtualenv does not have (verl pins a CUDA torch). Install them in a
separate one with ``bash tests/rl_clients_install.sh .venv-rl/bin/python``, then run
``HF_HUB_OFFLINE=1 .venv-rl/bin/python -m pytest -m rl_clients tests/test_rl_clients.py``.
Without verl or TRL installed the whole module is skipped, saying which is missing; with
``MEDRL_REQUIRE_RL_CLIENTS=1`` (for a CI job that ran the install script) a missing client fails instead.

Nothing is fetched: the tokenizer is a byte-level BPE trained here on the test prompts and wrapped in
``transformers.PreTrainedTokenizerFast`` with a ChatML chat template, and the policy is a randomly initialised
two-layer Llama with hidden size 16.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

# Before anything imports huggingface_hub: no test here may reach the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VERL_USE_EXTERNAL_PLUGINS", "none")

pytestmark = pytest.mark.rl_clients

_MISSING = [name for name in ("verl", "trl", "torch", "transformers") if importlib.util.find_spec(name) is None]
if _MISSING:
    _WHY = (
        f"RL clients not installed in this environment ({', '.join(_MISSING)} not importable); "
        "install them with: bash tests/rl_clients_install.sh .venv-rl/bin/python"
    )
    if os.environ.get("MEDRL_REQUIRE_RL_CLIENTS") == "1":
        raise ImportError(_WHY + " (MEDRL_REQUIRE_RL_CLIENTS=1)")
    pytest.skip(_WHY, allow_module_level=True)

# Installed: from here on an import error is a broken install and fails the run.
import inspect
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch
import verl
from datasets import Dataset
from hydra import compose, initialize_config_dir
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from trl import GRPOConfig, GRPOTrainer
from verl import DataProto
from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
from verl.trainer.ppo.reward import get_custom_reward_fn, resolve_reward_manager_cls
from verl.trainer.ppo.utils import create_rl_dataset
from verl.utils import hf_tokenizer
from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

import medrl.reward

REWARD_PATH = Path(medrl.reward.__file__).resolve()
INSTRUCTION = "Please reason step by step, and put your final answer (the letter only) within \\boxed{}."
ROWS = [
    {
        "problem": "Which drug is an anticoagulant?\nA. Aspirin\nB. Heparin\nC. Ibuprofen\nD. Paracetamol\n"
        + INSTRUCTION,
        "label": "B",
    },
    {
        "problem": "Lack of which vitamin causes scurvy?\nA. Vitamin C\nB. Vitamin D\nC. Vitamin K\nD. Vitamin A\n"
        + INSTRUCTION,
        "label": "A",
    },
]
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
BOXED_B = "\\boxed{B}"  # one added token, so that generation can be steered onto it


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hub access off even when huggingface_hub was imported (by another test module) before the env was set."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE (lossless for any text) trained on the test prompts, with ChatML special tokens, the
    reasoning tags as non-special added tokens (as reasoning models have them, so decoding keeps them) and
    ``\\boxed{B}`` as one token."""
    corpus = [row["problem"] for row in ROWS] + ["<think>Heparin.</think>The answer is \\boxed{B}."]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus * 4, trainer)
    tokenizer.add_tokens(
        [AddedToken(text, special=False, normalized=False) for text in ("<think>", "</think>", BOXED_B)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>", chat_template=CHATML
    )


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tokenizer saved as a model directory, as verl loads it (``actor_rollout_ref.model.path``)."""
    path = tmp_path_factory.mktemp("tokenizer")
    build_tokenizer().save_pretrained(path)
    return path


# --- verl ----------------------------------------------------------------------------------------------------------


def write_verl_parquet(path: Path) -> Path:
    """The verl RL format medrl targets: data_source, chat prompt, ability, rule reward_model, extra_info."""
    table = pa.table(
        {
            "data_source": ["ii_medical_rl"] * len(ROWS),
            "prompt": [[{"role": "user", "content": row["problem"]}] for row in ROWS],
            "ability": ["medical"] * len(ROWS),
            "reward_model": [{"style": "rule", "ground_truth": row["label"]} for row in ROWS],
            "extra_info": [{"split": "train", "index": i, "question_id": f"q{i}"} for i in range(len(ROWS))],
        }
    )
    pq.write_table(table, path)
    return path


def verl_config(train_file: Path, tokenizer_dir: Path, *extra: str):
    """verl's own PPO trainer config (its Hydra YAML), with the overrides a user passes on the command line."""
    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return compose(
            config_name="ppo_trainer",
            overrides=[
                f"data.train_files={train_file}",
                f"data.val_files={train_file}",
                "data.max_prompt_length=256",
                "data.max_response_length=64",
                "data.filter_overlong_prompts=True",
                f"actor_rollout_ref.model.path={tokenizer_dir}",
                f"reward.custom_reward_function.path={REWARD_PATH}",
                "reward.custom_reward_function.name=compute_score",
                *extra,
            ],
        )


def rollout_batch(dataset: RLHFDataset, tokenizer, rows: list[int], responses: list[str]) -> DataProto:
    """What verl's rollout hands the reward loop: left-padded prompts, right-padded responses, attention mask over
    both, and the dataset row's non-tensor fields (data_source, reward_model, extra_info, ...)."""
    prompt_len, response_len = 256, 64
    prompts, responses_ids, masks = [], [], []
    items = [dataset[i] for i in rows]
    for item, response in zip(items, responses, strict=True):
        prompt = tokenizer.apply_chat_template(item["raw_prompt"], add_generation_prompt=True, tokenize=False)
        prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
        response_ids = [*tokenizer.encode(response, add_special_tokens=False), tokenizer.eos_token_id]
        assert len(prompt_ids) <= prompt_len and len(response_ids) <= response_len
        prompts.append([tokenizer.pad_token_id] * (prompt_len - len(prompt_ids)) + prompt_ids)
        responses_ids.append(response_ids + [tokenizer.pad_token_id] * (response_len - len(response_ids)))
        masks.append(
            [0] * (prompt_len - len(prompt_ids))
            + [1] * (len(prompt_ids) + len(response_ids))
            + [0] * (response_len - len(response_ids))
        )
    batch = collate_fn(items)
    prompts_t, responses_t = torch.tensor(prompts), torch.tensor(responses_ids)
    return DataProto.from_dict(
        tensors={
            "prompts": prompts_t,
            "responses": responses_t,
            "input_ids": torch.cat([prompts_t, responses_t], dim=1),
            "attention_mask": torch.tensor(masks),
        },
        non_tensors={key: value for key, value in batch.items() if not isinstance(value, torch.Tensor)},
    )


# Responses for rows [0, 0, 1, 1, 0] (labels B, B, A, A, B) and the score each must get.
RESPONSES = [
    "<think>Aspirin is antiplatelet: \\boxed{A}? No, heparin.</think>The answer is \\boxed{\\text{B}}.",
    "The answer is \\boxed{C}.",
    "<think>Scurvy is vitamin C, so \\boxed{A}.</think>Vitamin C.",  # boxed only inside the reasoning
    "\\boxed{(a)} Vitamin C",
    "<think>x</think>\\boxed{B} ... no, \\boxed{D}",
]
RESPONSE_ROWS = [0, 0, 1, 1, 0]
EXPECTED = [1.0, 0.0, 0.0, 1.0, 0.0]


def test_verl_loads_the_parquet_and_scores_through_its_reward_loop(tmp_path: Path, tokenizer_dir: Path) -> None:
    train_file = write_verl_parquet(tmp_path / "train.parquet")
    config = verl_config(train_file, tokenizer_dir)

    # The tokenizer and dataset as verl's trainer builds them.
    tokenizer = hf_tokenizer(str(tokenizer_dir))
    dataset = create_rl_dataset(config.data.train_files, config.data, tokenizer, None)
    assert isinstance(dataset, RLHFDataset)
    assert len(dataset) == len(ROWS)  # none filtered as over-long
    item = dataset[0]
    assert item["data_source"] == "ii_medical_rl"
    assert item["raw_prompt"] == [{"role": "user", "content": ROWS[0]["problem"]}]
    assert item["reward_model"] == {"style": "rule", "ground_truth": "B"}
    assert item["extra_info"]["question_id"] == "q0" and item["index"] == 0

    # The custom reward hook loads medrl/reward.py by path and calls compute_score.
    compute_score = get_custom_reward_fn(config)
    assert compute_score is not None
    right = "<think>Heparin.</think>\\boxed{B}"
    wrong = "<think>Heparin.</think>\\boxed{A}"
    kwargs = {"data_source": item["data_source"], "ground_truth": item["reward_model"]["ground_truth"]}
    assert compute_score(solution_str=right, extra_info=item["extra_info"], **kwargs) == 1.0
    assert compute_score(solution_str=wrong, extra_info=item["extra_info"], **kwargs) == 0.0

    # The whole reward loop in process: verl's RewardLoopWorker (the Ray actor's class, without Ray) decodes the
    # response tokens and runs the "naive" reward manager with the custom function; the manager class then places
    # each score on the response's last token.
    batch = rollout_batch(dataset, tokenizer, RESPONSE_ROWS, RESPONSES)
    worker = RewardLoopWorker(config)
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(batch))
    assert [output["reward_score"] for output in outputs] == EXPECTED
    assert [output["reward_extra_info"]["acc"] for output in outputs] == EXPECTED
    rm_scores = resolve_reward_manager_cls(config).assemble_rm_scores(batch, EXPECTED)
    assert rm_scores.sum(dim=-1).tolist() == EXPECTED


def test_verl_reward_kwargs_turn_the_format_reward_on(tmp_path: Path, tokenizer_dir: Path) -> None:
    train_file = write_verl_parquet(tmp_path / "train.parquet")
    config = verl_config(train_file, tokenizer_dir, "+reward.custom_reward_function.reward_kwargs.format_weight=0.5")
    tokenizer = hf_tokenizer(str(tokenizer_dir))
    dataset = create_rl_dataset(config.data.train_files, config.data, tokenizer, None)
    worker = RewardLoopWorker(config)
    outputs = worker.loop.run_until_complete(
        worker.compute_score_batch(rollout_batch(dataset, tokenizer, RESPONSE_ROWS, RESPONSES))
    )
    # + 0.5 * format: only response 0 has one </think> then exactly one boxed letter (response 4 has two boxes).
    assert [output["reward_score"] for output in outputs] == [1.5, 0.0, 0.0, 1.0, 0.0]


# --- TRL -----------------------------------------------------------------------------------------------------------


def tiny_policy(tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


@pytest.mark.parametrize("conversational", [True, False], ids=["conversational", "plain"])
def test_trl_grpo_trains_two_steps_with_trl_reward(tmp_path: Path, conversational: bool) -> None:
    tokenizer = build_tokenizer()
    prompts = [
        [{"role": "user", "content": row["problem"]}] if conversational else row["problem"] + "\n" for row in ROWS
    ]
    dataset = Dataset.from_list(
        [
            {"prompt": prompt, "label": row["label"], "data_source": "ii_medical_rl"}
            for prompt, row in zip(prompts, ROWS, strict=True)
        ]
        * 2
    )
    seen: list[dict] = []

    def spy(completions, label, **kwargs) -> list[float]:
        """Records what TRL passes to reward functions (weight 0: it does not change the reward)."""
        seen.append({"completions": completions, "label": label, **kwargs})
        return [0.0] * len(completions)

    # A random policy would never write a box: a strong bias on the single "\boxed{B}" token makes every completion
    # a run of \boxed{B}, so trl_reward must give 1.0 to label-B rows and 0.0 to label-A rows.
    boxed_b = tokenizer.convert_tokens_to_ids(BOXED_B)
    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        max_steps=2,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=8,
        generation_kwargs={"sequence_bias": {(boxed_b,): 50.0}},
        reward_weights=[1.0, 0.0],
        use_cpu=True,
        bf16=False,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        dataloader_num_workers=0,
        seed=0,
    )
    trainer = GRPOTrainer(
        model=tiny_policy(tokenizer),
        reward_funcs=[medrl.reward.trl_reward, spy],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()

    assert trainer.state.global_step == 2
    assert len(seen) == 2  # one reward call per step
    steps = [entry for entry in trainer.state.log_history if "rewards/trl_reward/mean" in entry]
    assert [entry["step"] for entry in steps] == [1, 2]
    for call, logged in zip(seen, steps, strict=True):
        # TRL's call shape: completions, every dataset column but the prompt, and its own extras.
        assert {"prompts", "completions", "completion_ids", "label", "data_source", "trainer_state"} <= set(call)
        assert call["data_source"] == ["ii_medical_rl"] * len(call["label"])
        texts = [medrl.reward.completion_text(completion) for completion in call["completions"]]
        if conversational:
            assert all(completion[-1]["role"] == "assistant" for completion in call["completions"])
        else:
            assert all(isinstance(completion, str) for completion in call["completions"])
        assert all(text.startswith(BOXED_B) for text in texts)
        expected = [1.0 if label == "B" else 0.0 for label in call["label"]]
        assert medrl.reward.trl_reward(**call) == expected
        assert logged["rewards/trl_reward/mean"] == pytest.approx(sum(expected) / len(expected))


def test_the_reward_file_loads_standalone_as_verl_does() -> None:
    """verl imports the reward by file path (no package context): reward.py must need no relative imports."""
    from verl.utils.import_utils import load_extern_object

    compute_score = load_extern_object(module_path=str(REWARD_PATH), object_name="compute_score")
    assert compute_score("ii_medical_rl", "\\boxed{B}", "B") == 1.0
    assert not inspect.iscoroutinefunction(compute_score)
