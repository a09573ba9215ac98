"""Scorecards and the portfolio as JSON-ready dicts and CSV rows (pages, API and exports share them)."""

import csv
import io
from collections.abc import Iterable
from typing import Any

from assessments.charts import category_label
from assessments.models import ScorecardSnapshot
from assessments.scoring.results import CriterionResult
from assessments.scoring.scorecard import Scorecard
from assessments.selectors import PortfolioRow
from registry.models import Project


def result_as_dict(result: CriterionResult) -> dict[str, Any]:
    answer = result.answer
    return {
        "code": result.spec.code,
        "title": result.spec.title,
        "level": result.spec.level,
        "category": result.spec.category,
        "kind": result.spec.kind,
        "outcome": result.outcome.value,
        "label": result.label,
        "counts_as_met": result.counts_as_met,
        "stale": result.stale,
        "challenged": result.challenged,
        "summary": result.summary,
        "evidence": [{"label": link.label, "url": link.url} for link in result.links],
        "answer": None
        if answer is None
        else {
            "status": answer.status,
            "evidence_url": answer.evidence_url,
            "note": answer.note,
            "answered_by": answer.answered_by,
            "answered_at": answer.answered_at.isoformat(),
            "review_state": answer.review_state,
            "reviewed_by": answer.reviewed_by,
            "review_comment": answer.review_comment,
        },
    }


def scorecard_as_dict(
    *, project: Project, card: Scorecard, history: Iterable[ScorecardSnapshot] = ()
) -> dict[str, Any]:
    return {
        "project": {"slug": project.slug, "name": project.name, "team": project.team},
        "level": card.level,
        "next_level": card.next_level,
        "progress_to_next": card.progress_to_next,
        "overall_percent": card.overall_percent,
        "level_percents": {str(k): v for k, v in card.level_percents.items()},
        "category_percents": card.category_percents,
        "evidence_window": {"since": card.since.isoformat(), "until": card.until.isoformat()},
        "gaps": [g.spec.code for g in card.gaps],
        "blocking_next_level": [g.spec.code for g in card.blocking],
        "criteria": [result_as_dict(r) for r in card.results],
        "history": [
            {"computed_at": s.computed_at.isoformat(), "level": s.level, "overall_percent": s.overall_percent}
            for s in history
        ],
    }


SCORECARD_CSV_HEADER = [
    "code", "level", "category", "kind", "title", "outcome", "stale", "challenged", "summary", "evidence",
]  # fmt: skip


def scorecard_csv(card: Scorecard) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(SCORECARD_CSV_HEADER)
    for r in card.results:
        writer.writerow(
            [
                r.spec.code,
                r.spec.level,
                category_label(r.spec.category),
                r.spec.kind,
                r.spec.title,
                r.label,
                "yes" if r.stale else "no",
                "yes" if r.challenged else "no",
                r.summary,
                " ".join(link.url for link in r.links),
            ]
        )
    return out.getvalue()


def portfolio_row_as_dict(row: PortfolioRow) -> dict[str, Any]:
    snap = row.snapshot
    return {
        "project": {"slug": row.project.slug, "name": row.project.name, "team": row.project.team},
        "scored": snap is not None,
        "level": row.level,
        "progress_to_next": snap.progress_to_next if snap else None,
        "overall_percent": snap.overall_percent if snap else None,
        "trend_30_days": row.trend_30,
        "trend_90_days": row.trend_90,
        "level_change_30_days": row.level_change_30,
        "level_change_90_days": row.level_change_90,
        "category_percents": snap.category_percents if snap else {},
        "computed_at": snap.computed_at.isoformat() if snap else None,
    }


def portfolio_csv(rows: Iterable[PortfolioRow], categories: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "project",
            "team",
            "level",
            "progress_to_next_%",
            "overall_%",
            "level_change_30d",
            "trend_30d_pts",
            "level_change_90d",
            "trend_90d_pts",
            "computed_at",
        ]
        + [f"{category_label(c)} %" for c in categories]
    )
    for row in rows:
        d = portfolio_row_as_dict(row)
        writer.writerow(
            [
                row.project.name,
                row.project.team,
                "" if d["level"] is None else d["level"],
                d["progress_to_next"] if d["scored"] else "",
                d["overall_percent"] if d["scored"] else "",
                "" if d["level_change_30_days"] is None else d["level_change_30_days"],
                "" if d["trend_30_days"] is None else d["trend_30_days"],
                "" if d["level_change_90_days"] is None else d["level_change_90_days"],
                "" if d["trend_90_days"] is None else d["trend_90_days"],
                d["computed_at"] or "",
            ]
            + [d["category_percents"].get(c, "") for c in categories]
        )
    return out.getvalue()
