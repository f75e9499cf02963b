"""Crafted results with known per-question scores, for the gate, report and browser tests."""

from __future__ import annotations

from eval.results import QuestionRun, Results, SystemRun
from eval.run import ALL_METRICS


def crafted(scores: dict[str, dict[str, list[float]]], unjudged: int = 0) -> Results:
    """Results where system -> metric -> per-question scores (questions q0, q1, ...); the
    first `unjudged` questions of every system are unjudged on faithfulness."""
    systems = []
    for name, metrics in scores.items():
        count = len(next(iter(metrics.values())))
        questions = {}
        for i in range(count):
            run = QuestionRun(
                f"q{i}",
                {m: values[i] for m, values in metrics.items()},
                latency_ms={"retrieval": 10.0 + i, "answer": 100.0 + 3 * i},
                passages=[
                    {
                        "rank": 1,
                        "doc_id": f"d{i}",
                        "source": f"docs/file{i}.md",
                        "section": "Leave",
                        "score": 0.5,
                        "relevant": i % 2 == 0,
                        "kb": "",
                        "text": f"Passage {i}: employees get twenty days of leave.",
                    }
                ],
                answer=f"Answer {i} from {name} [1].",
                verdicts={"faithfulness": [{"claim": "twenty days", "supported": True}]},
            )
            if i < unjudged:
                run.unjudged = ["faithfulness"]
                run.scores.pop("faithfulness", None)
            questions[run.id] = run
        systems.append(SystemRun(name, f"config {name}.toml", {"kb": "default"}, {}, questions))
    count = len(systems[0].questions)
    dataset = {
        "name": "crafted",
        "path": "crafted.jsonl",
        "questions": [
            {"id": f"q{i}", "question": f"How many days of leave, case {i}?", "reference": "20"}
            for i in range(count)
        ],
    }
    meta = {"command": "rag eval run", "created_at": "2026-12-02", "versions": {"python": "3"}}
    return Results("Evaluation: crafted", dataset, systems, list(ALL_METRICS), "ndcg@10", meta)
