"""Pure scoring: automatic checks over ProjectEvidence, and the scorecard from all outcomes.

No ORM, no request and no Django import anywhere in this package. Rules:
- A project is at level N when every active criterion of level <= N is met; not-applicable answers
  are left out. Partly met, unanswered, challenged, stale and "no evidence yet" all count as not met.
- Percentages weigh met as 1 and partly as 1/2 over the applicable criteria.
- Gaps are the unmet criteria, in the order to tackle them: the next level first, the nearly done
  first (partly, stale, challenged), then the categories with the fewest gaps left, then rubric order.

Where things are:
- results.py: outcomes, criteria and their results (the vocabulary every other module uses);
- checks/: the automatic checks, one module per source of evidence, registered by key;
- answers.py: attested criteria judged from the team's answers;
- levels.py: the level rule and progress toward each level;
- categories.py: the score per category;
- gaps.py: the order in which the gaps are shown;
- scorecard.py: the scorecard, put together from all of the above by `score`.
"""
