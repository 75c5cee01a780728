# ruff: noqa: E402
# (E402: the imports that need verl and TRL come after the explicit check that skips without them.)
"""A real `medrl build` inside the real RL clients: verl 0.9.1's dataset, config and reward loop on the verl export's
train and val files, and 2 TRL `GRPOTrainer` steps on the TRL export, both scored with medrl.reward.

The build is of the three shared training files (../shared/data/training) against the full shared benchmark pack,
with a 10% validation split, exactly as `medrl build` writes it.

These tests need verl and TRL, which the main virtualenv does not have (verl pins a CUDA torch). Install them in a
separate one with ``bash tests/rl_clients_install.sh .venv-rl/bin/python``, then run
``HF_HUB_OFFLINE=1 .venv-rl/bin/python -m pytest -m rl_clients tests/test_rl_clients.py``.
Without verl or TRL installed the whole module is skipped, saying which is missing; with
``MEDRL_REQUIRE_RL_CLIENTS=1`` (for a CI job that ran the install script) a missing client fails instead.

Nothing is fetched: the tokenizer is a byte-level BPE trained here on the build's prompts and wrapped in
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

import pyarrow.parquet as pq
import torch
import verl
from datasets import load_dataset
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
from conftest import TRAINING, TRAINING_FILES
from medrl.dataset.build import build, make_config
from medrl.dataset.sources import Source

REWARD_PATH = Path(medrl.reward.__file__).resolve()
MAX_PROMPT_TOKENS = 4096  # no real prompt is filtered as over-long (checked: every row is loaded)
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


@pytest.fixture(scope="module")
def built(full_pack_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """`medrl build` of the shared training files with a 10% validation split: (output directory, build.json)."""
    out = tmp_path_factory.mktemp("build")
    sources = tuple(Source(TRAINING / name) for name in TRAINING_FILES)
    summary = build(make_config(sources=sources, pack=full_pack_dir, out=out, val_fraction=0.1))
    assert list(summary["splits"]) == ["train", "val"] and all(s["rows"] > 100 for s in summary["splits"].values())
    return out, summary


def build_tokenizer(out: Path) -> PreTrainedTokenizerFast:
    """A byte-level BPE (lossless for any text) trained on the build's prompts, with ChatML special tokens, the
    reasoning tags as non-special added tokens (as reasoning models have them, so decoding keeps them) and
    ``\\boxed{B}`` as one token."""
    problems = [
        problem
        for split in ("train", "val")
        for problem in pq.read_table(out / "parquet" / f"{split}.parquet").column("problem").to_pylist()
    ]
    corpus = [*problems, "<think>Heparin.</think>The answer is \\boxed{B}."]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=4000,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer)
    tokenizer.add_tokens(
        [AddedToken(text, special=False, normalized=False) for text in ("<think>", "</think>", BOXED_B)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>", chat_template=CHATML
    )


@pytest.fixture(scope="module")
def tokenizer_dir(built: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tokenizer saved as a model directory, as verl loads it (``actor_rollout_ref.model.path``)."""
    path = tmp_path_factory.mktemp("tokenizer")
    build_tokenizer(built[0]).save_pretrained(path)
    return path


# --- verl ----------------------------------------------------------------------------------------------------------


def verl_config(train_file: Path, val_file: Path, tokenizer_dir: Path, *extra: str):
    """verl's own PPO trainer config (its Hydra YAML), with the overrides a user passes on the command line."""
    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return compose(
            config_name="ppo_trainer",
            overrides=[
                f"data.train_files={train_file}",
                f"data.val_files={val_file}",
                f"data.max_prompt_length={MAX_PROMPT_TOKENS}",
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
    response_len = 64
    prompts, responses_ids, masks = [], [], []
    items = [dataset[i] for i in rows]
    chats = [
        tokenizer.apply_chat_template(item["raw_prompt"], add_generation_prompt=True, tokenize=False) for item in items
    ]
    prompt_len = max(len(tokenizer.encode(chat, add_special_tokens=False)) for chat in chats)
    for chat, response in zip(chats, responses, strict=True):
        prompt_ids = tokenizer.encode(chat, add_special_tokens=False)
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


def responses_for(labels: list[str]) -> tuple[list[str], list[float]]:
    """Five completions for rows with these labels, in the forms the reward must read or refuse, and their scores."""
    right = labels
    wrong = ["A" if label != "A" else "B" for label in labels]
    responses = [
        f"<think>First guess \\boxed{{{wrong[0]}}}? No.</think>The answer is \\boxed{{\\text{{{right[0]}}}}}.",
        f"The answer is \\boxed{{{wrong[1]}}}.",
        f"<think>So \\boxed{{{right[2]}}}.</think>That one.",  # boxed only inside the reasoning
        f"\\boxed{{({right[3].lower()})}} as reasoned",
        f"<think>x</think>\\boxed{{{right[4]}}} ... no, \\boxed{{{wrong[4]}}}",
    ]
    return responses, [1.0, 0.0, 0.0, 1.0, 0.0]


def verl_dataset(built: tuple[Path, dict], tokenizer_dir: Path, split: str, *extra: str):
    """(config, tokenizer, RLHFDataset) for one split of the verl export, as verl's trainer builds them."""
    out, summary = built
    paths = summary["exports"]["verl"]
    config = verl_config(out / paths["train"], out / paths["val"], tokenizer_dir, *extra)
    tokenizer = hf_tokenizer(str(tokenizer_dir))
    files = config.data.train_files if split == "train" else config.data.val_files
    return config, tokenizer, create_rl_dataset(files, config.data, tokenizer, None, is_train=split == "train")


@pytest.mark.parametrize("split", ["train", "val"])
def test_verl_loads_the_built_split_and_scores_through_its_reward_loop(
    built: tuple[Path, dict], tokenizer_dir: Path, split: str
) -> None:
    out, summary = built
    config, tokenizer, dataset = verl_dataset(built, tokenizer_dir, split)
    assert isinstance(dataset, RLHFDataset)
    exported = pq.read_table(out / summary["exports"]["verl"][split]).to_pylist()
    assert len(dataset) == len(exported) == summary["splits"][split]["rows"]  # none filtered as over-long
    for position in (0, len(exported) - 1):
        item, row = dataset[position], exported[position]
        assert item["data_source"] == row["data_source"] and item["data_source"].startswith("medrl/")
        assert item["raw_prompt"] == row["prompt"] and item["raw_prompt"][0]["content"].endswith("within \\boxed{}.")
        assert item["reward_model"] == {"style": "rule", "ground_truth": row["reward_model"]["ground_truth"]}
        assert item["extra_info"]["split"] == split and item["index"] == position

    # The custom reward hook loads medrl/reward.py by path and calls compute_score.
    compute_score = get_custom_reward_fn(config)
    assert compute_score is not None
    item = dataset[0]
    label = item["reward_model"]["ground_truth"]
    kwargs = {"data_source": item["data_source"], "ground_truth": label, "extra_info": item["extra_info"]}
    assert compute_score(solution_str=f"<think>.</think>\\boxed{{{label}}}", **kwargs) == 1.0
    assert compute_score(solution_str=f"<think>.</think>\\boxed{{{'A' if label != 'A' else 'B'}}}", **kwargs) == 0.0

    # The whole reward loop in process: verl's RewardLoopWorker (the Ray actor's class, without Ray) decodes the
    # response tokens and runs the "naive" reward manager with the custom function; the manager class then places
    # each score on the response's last token.
    rows = list(range(5))
    responses, expected = responses_for([dataset[row]["reward_model"]["ground_truth"] for row in rows])
    batch = rollout_batch(dataset, tokenizer, rows, responses)
    worker = RewardLoopWorker(config)
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(batch))
    assert [output["reward_score"] for output in outputs] == expected
    assert [output["reward_extra_info"]["acc"] for output in outputs] == expected
    rm_scores = resolve_reward_manager_cls(config).assemble_rm_scores(batch, expected)
    assert rm_scores.sum(dim=-1).tolist() == expected


def test_verl_reward_kwargs_turn_the_format_reward_on(built: tuple[Path, dict], tokenizer_dir: Path) -> None:
    extra = "+reward.custom_reward_function.reward_kwargs.format_weight=0.5"
    config, tokenizer, dataset = verl_dataset(built, tokenizer_dir, "train", extra)
    rows = list(range(5))
    responses, _ = responses_for([dataset[row]["reward_model"]["ground_truth"] for row in rows])
    worker = RewardLoopWorker(config)
    outputs = worker.loop.run_until_complete(
        worker.compute_score_batch(rollout_batch(dataset, tokenizer, rows, responses))
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
        max_position_embeddings=MAX_PROMPT_TOKENS + 64,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def test_trl_grpo_trains_two_steps_on_the_trl_export(built: tuple[Path, dict], tmp_path: Path) -> None:
    out, summary = built
    tokenizer = build_tokenizer(out)
    train = str(out / summary["exports"]["trl"]["train"])  # its own cache (see test_build's card test)
    dataset = load_dataset("parquet", data_files=train, split="train", cache_dir=str(tmp_path / "datasets-cache"))
    assert dataset.column_names == ["prompt", "label"] and len(dataset) == summary["splits"]["train"]["rows"]
    # Four rows of the export, two labelled B: the 2 steps of 2 prompts each see all of them.
    labels = dataset["label"]
    b_rows = [row for row, label in enumerate(labels) if label == "B"][:2]
    dataset = dataset.select(b_rows + [row for row, label in enumerate(labels) if label != "B"][:2])
    seen: list[dict] = []

    def spy(completions, label, **kwargs) -> list[float]:
        """Records what TRL passes to reward functions (weight 0: it does not change the reward)."""
        seen.append({"completions": completions, "label": label, **kwargs})
        return [0.0] * len(completions)

    # A random policy would never write a box: a strong bias on the single "\\boxed{B}" token makes every completion
    # a run of \\boxed{B}, so trl_reward must give 1.0 to label-B rows and 0.0 to the others.
    boxed_b = tokenizer.convert_tokens_to_ids(BOXED_B)
    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        max_steps=2,
        per_device_train_batch_size=4,
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
    problems = {row["prompt"][0]["content"] for row in dataset}
    for call, logged in zip(seen, steps, strict=True):
        # TRL's call shape: completions, every dataset column but the prompt, and its own extras.
        assert {"prompts", "completions", "completion_ids", "label", "trainer_state"} <= set(call)
        assert all(prompt[-1]["content"] in problems for prompt in call["prompts"])  # rows of the export
        assert all(completion[-1]["role"] == "assistant" for completion in call["completions"])
        texts = [medrl.reward.completion_text(completion) for completion in call["completions"]]
        assert all(text.startswith(BOXED_B) for text in texts)
        expected = [1.0 if label == "B" else 0.0 for label in call["label"]]
        assert medrl.reward.trl_reward(**call) == expected
        assert logged["rewards/trl_reward/mean"] == pytest.approx(sum(expected) / len(expected))
    # Every row was sampled, so both rewards (1.0 for B, 0.0 for the others) were exercised.
    assert sorted(label for call in seen for label in call["label"][::2]) == sorted(dataset["label"])


def test_the_reward_file_loads_standalone_as_verl_does() -> None:
    """verl imports the reward by file path (no package context): reward.py must need no relative imports."""
    from verl.utils.import_utils import load_extern_object

    compute_score = load_extern_object(module_path=str(REWARD_PATH), object_name="compute_score")
    assert compute_score("ii_medical_rl", "\\boxed{B}", "B") == 1.0
    assert not inspect.iscoroutinefunction(compute_score)
