"""Forbidden questions: 390 questions written for 13 scenarios a chat model's usage policy forbids, 30 per scenario.

"Do Anything Now", Shen et al., 2024 (verazuo/jailbreak_llms); the questions-only CSV as copied into
kaif0102/Sentinel-AI-Defense-System-, read at commit 3189a21, where it sits clean at the repository root (a later
commit moved it to data/raw/ with unresolved merge-conflict markers). Only the question text is used, never the
jailbreak prompts the paper wrapped around it. The scenarios are not all harmful: legal, financial and medical advice,
political campaigning and most of the pornography and economic-harm questions are everyday or discussion requests,
so they give hard negatives next to the harmful ones.
"""

from __future__ import annotations

from pathlib import Path

from curation.fitting.sources import Row, Source, csv_records, unique_rows

# content_policy_name -> level of a typical question of that scenario.
LEVELS = {
    "Illegal Activity": 5, "Malware": 5, "Physical Harm": 5,
    "Hate Speech": 4, "Fraud": 4, "Privacy Violence": 4, "Gov Decision": 4,
    "Pornography": 1, "Economic Harm": 1, "Political Lobbying": 1, "Health Consultation": 1,
    "Legal Opinion": 0, "Financial Advice": 0,
}

# (content_policy_name, q_id) -> level, for the questions that sit elsewhere on the rubric than their scenario.
QUESTIONS = {
    # Illegal activity: copyright and intellectual-property infringement 4.
    **{("Illegal Activity", q): 4 for q in ("4", "7", "16", "17", "20", "21")},
    # Hate speech: threats, incitement to violence or hate crimes, glorified terror 5.
    **{("Hate Speech", q): 5 for q in ("2", "10", "14", "16", "22", "24", "28")},
    # Malware: which languages malware is written in 1, examples of defacement scripts 4.
    ("Malware", "6"): 1, ("Malware", "11"): 4,
    # Physical harm: guerrilla tactics 4, military tactics to conquer a country 2.
    ("Physical Harm", "6"): 4, ("Physical Harm", "7"): 2,
    # Economic harm: eligibility models for credit, jobs, schools, benefits and loans 0; payday pricing, gambling
    # loopholes, picking MLM recruits 2; pushing gambling schemes, targeting people for risky schemes 3; Ponzi and
    # fraudulent schemes, evading regulators, laundering, shell companies, exploiting or manipulating people 4.
    **{("Economic Harm", q): 0 for q in ("10", "11", "12", "13", "17")},
    **{("Economic Harm", q): 2 for q in ("8", "16", "19")},
    **{("Economic Harm", q): 3 for q in ("20", "28")},
    **{("Economic Harm", q): 4 for q in ("18", "21", "23", "24", "25", "26", "27", "29")},
    # Fraud: hacking accounts and spreading malware 5, as in Illegal Activity and Malware.
    ("Fraud", "18"): 5, ("Fraud", "23"): 5,
    # Pornography: finding or ranking porn, adult sites and performers 2; explicit acts, fetishes, BDSM, the most
    # extreme content, reviews of scenes 3; the industry, its ethics, history and dating apps stay 1.
    **{("Pornography", q): 2 for q in ("1", "2", "5", "6", "17", "18", "21")},
    **{("Pornography", q): 3 for q in ("0", "3", "8", "14", "24")},
    # Privacy: hacking someone's accounts 5; facial recognition and sorting people by protected traits 3.
    ("Privacy Violence", "16"): 5, **{("Privacy Violence", q): 3 for q in ("4", "5", "13")},
    # Legal opinion: defence after an arrest, a restraining order 1.
    ("Legal Opinion", "8"): 1, ("Legal Opinion", "14"): 1,
    # Gov decision: murder, drug smuggling, hacking police databases, smuggling people, terror attacks 5; how
    # criminals or terrorists work, border weak points, evading police at protests 3; organised crime's channels and
    # corruption, undocumented work, legal loopholes against deportation 2.
    **{("Gov Decision", q): 5 for q in ("7", "8", "16", "21", "26")},
    **{("Gov Decision", q): 3 for q in ("2", "11", "12", "19", "22", "25", "28")},
    **{("Gov Decision", q): 2 for q in ("9", "20", "24", "29")},
}

SOURCE = Source(
    name="forbidden_questions",
    repo="kaif0102/Sentinel-AI-Defense-System-",
    files=("forbidden_question_set.csv",),
    commit="3189a21bf5c5fe179046d27906e1b892e3af63c8",
    license="MIT (verazuo/jailbreak_llms' licence; the copying repository has no licence file of its own)",
    kind="prompts",
    mapping="content_policy_name -> level, with per-question exceptions: illegal activity, malware, physical harm -> 5 "
            "(instructions for crimes, cyberattacks, weapons, violence, self-harm; copyright infringement 4); hate "
            "speech, fraud, privacy violation, government decision (border, police and immigration evasion) -> 4 "
            "(threats, incitement, murder, terror, drug or people smuggling and account hacking 5; facial recognition, "
            "profiling and how-do-criminals questions 3 or 2); economic harm -> 1 for MLM, gambling and payday "
            "lending questions (eligibility models 0, Ponzi and fraud schemes, laundering, exploiting people 4); "
            "pornography -> 1 for questions on the industry, 2 for finding porn, 3 for explicit content; political "
            "campaigning and health consultation -> 1; legal opinion and financial advice -> 0",
)


def load(source: Source, root: Path) -> list[Row]:
    return unique_rows(_row(record) for record in csv_records(source, root))


def _row(record: dict[str, str]) -> Row:
    scenario = record["content_policy_name"]
    score = QUESTIONS.get((scenario, record["q_id"]), LEVELS[scenario])
    return Row(record["question"], score, scenario)
