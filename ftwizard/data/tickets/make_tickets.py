"""Make the support-tickets demo data: OpenAI chat JSONL, one ticket -> one of five categories.

    python ftwizard/data/tickets/make_tickets.py        # writes train.jsonl and eval.jsonl next to this file

Deterministic (seeded): the same files every time. Tickets are assembled from hand-written openings, problem
descriptions and sign-offs per category, with product names, order numbers, amounts, dates and app versions
drawn at random, varied greetings, casing, the odd typo, and some tickets that mention a second topic in
passing - so the category has to be read from the main complaint, not from one keyword.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 20261201
N_TRAIN, N_EVAL = 240, 60
SYSTEM = ("Classify the customer support ticket into exactly one category: billing, shipping, returns, account, "
          "technical. Answer with the category name only.")
# Category shares: not balanced, as real queues are not (the majority class is billing, 28%).
WEIGHTS = {"billing": 0.28, "shipping": 0.22, "returns": 0.18, "account": 0.17, "technical": 0.15}

PRODUCTS = ["wireless headphones", "standing desk", "espresso machine", "running shoes", "winter jacket",
            "phone case", "air purifier", "yoga mat", "mechanical keyboard", "kids' bike", "blender",
            "smart watch", "backpack", "desk lamp", "cast iron pan", "bluetooth speaker"]
CARRIERS = ["DHL", "UPS", "FedEx", "the postal service", "your courier"]
APPS = ["the mobile app", "the iOS app", "the Android app", "the website", "the desktop app"]
PLANS = ["Plus", "Premium", "Family", "Pro", "Basic"]
NAMES = ["Anna", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam",
         "Maya", "Nils", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tomas"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November"]

GREETINGS = ["Hi,", "Hello,", "Hi there,", "Hey,", "Good morning,", "Dear support,", "Hello team,", ""]
SIGNOFFS = ["Thanks", "Thank you", "Regards", "Cheers", "Thanks in advance", "Best", ""]

PROBLEMS = {
    "billing": [
        "I was charged twice for order #{order}. Two payments of ${amount} show on my card statement.",
        "My {plan} subscription renewed at ${amount} but the price on your site says it should be less.",
        "Can you send me an invoice with my company's VAT number for the ${amount} I paid on {month} {day}?",
        "My card was declined when paying for the {product} even though it has plenty of credit.",
        "I cancelled my {plan} plan in {month} and I'm still being billed ${amount} every month.",
        "There is a charge of ${amount} from you that I don't recognise. What is it for?",
        "The discount code was accepted at checkout but the full ${amount} was taken from my account.",
        "I'd like to switch from monthly to yearly billing on my {plan} plan, how much would I pay?",
        "Why did my bill go up to ${amount} this month? Nothing changed on my side.",
        "I paid for express delivery (${amount}) but was charged for it twice on the receipt.",
    ],
    "shipping": [
        "My order #{order} ({product}) was supposed to arrive on {month} {day} and it still hasn't come.",
        "The tracking number for order #{order} hasn't updated in six days. Is the parcel lost?",
        "{carrier} says my {product} was delivered but there was nothing at my door.",
        "I entered the wrong delivery address for order #{order}, can you change it before it ships?",
        "How long does shipping to Canada usually take? I ordered the {product} a week ago.",
        "Only one of the two boxes of my order #{order} arrived, where is the other one?",
        "The courier left my {product} with a neighbour I don't know. Can deliveries wait for me?",
        "My package has been stuck in customs for two weeks, order #{order}.",
        "Can I pick up order #{order} at a store instead of having it delivered?",
        "The estimated delivery for my {product} keeps moving back a day. When will it actually ship?",
    ],
    "returns": [
        "The {product} I received is the wrong size. How do I exchange it?",
        "I'd like to return the {product} from order #{order}, it isn't what I expected.",
        "I sent back the {product} three weeks ago and still haven't got my refund.",
        "The {product} arrived broken. I want to send it back for a replacement.",
        "Can I return an item I bought on sale? It's the {product}, still in its box.",
        "The return label you emailed doesn't work at the {carrier} counter.",
        "I returned two items from order #{order} but was only refunded for one of them.",
        "Is it too late to return the {product}? I bought it on {month} {day}.",
        "My {product} stopped working after a month, can I get it replaced under warranty?",
        "I got a gift {product} that I already own. Can I return it without a receipt?",
    ],
    "account": [
        "I can't log in: the password reset email never arrives.",
        "Please change the email address on my account, I no longer use the old one.",
        "My account got locked after too many login attempts. Can you unlock it?",
        "I lost my phone and can't get the two-factor code to sign in.",
        "How do I delete my account and all my personal data?",
        "Someone changed my account password without my permission, I think I was hacked.",
        "I have two accounts by mistake, can you merge them into one?",
        "I want to add my partner to our {plan} family account but can't find the option.",
        "The username on my profile is wrong and the settings page won't let me edit it.",
        "I never signed up but I keep getting emails saying my account was created.",
    ],
    "technical": [
        "{app} crashes every time I open the order history page (version {version}).",
        "I get error code E{code} when I try to upload a photo in {app}.",
        "The checkout button does nothing in {app} on my tablet.",
        "Since the update to version {version}, {app} drains my battery in a couple of hours.",
        "Notifications stopped working in {app}, I had them turned on.",
        "The page keeps loading forever when I search for '{product}' on {app}.",
        "My {product} won't pair with {app}, it's stuck on 'connecting'.",
        "The dark mode in {app} makes the text unreadable on some screens.",
        "Images don't load in {app}; I just see grey boxes (version {version}).",
        "{app} logs me out every few minutes and I have to sign in again.",
    ],
}
# A second topic in passing, so the main complaint decides (never added to the ticket of that same category).
ASIDES = {
    "billing": "I was charged correctly for it, by the way.",
    "shipping": "The delivery itself was quick.",
    "returns": "I don't want to return anything.",
    "account": "I'm logged in fine.",
    "technical": "The app works fine otherwise.",
}
EXTRAS = ["This is really frustrating.", "Please help as soon as possible.", "I've been a customer for years.",
          "I already tried contacting you by chat.", "Could you look into it?", "Not happy about this.",
          "I need this sorted before the weekend.", "", "", ""]
TYPOS = [("receive", "recieve"), ("address", "adress"), ("definitely", "definately"), ("the ", "teh "),
         ("until", "untill")]


def _fill(text: str, r: random.Random) -> str:
    return text.format(order=r.randint(100000, 999999), amount=f"{r.randint(5, 480)}.{r.choice(['00', '99', '50', '49'])}",
                       plan=r.choice(PLANS), month=r.choice(MONTHS), day=r.randint(1, 28), product=r.choice(PRODUCTS),
                       carrier=r.choice(CARRIERS), app=r.choice(APPS), code=r.randint(100, 999),
                       version=f"{r.randint(3, 9)}.{r.randint(0, 19)}.{r.randint(0, 9)}")


def ticket(category: str, r: random.Random) -> str:
    parts = [r.choice(GREETINGS), _fill(r.choice(PROBLEMS[category]), r)]
    if r.random() < 0.25:
        other = r.choice([c for c in ASIDES if c != category])
        parts.append(ASIDES[other])
    parts.append(r.choice(EXTRAS))
    sign = r.choice(SIGNOFFS)
    if sign:
        parts.append(f"{sign}, {r.choice(NAMES)}" if r.random() < 0.6 else sign)
    text = " ".join(p for p in parts if p)
    if r.random() < 0.15:
        a, b = r.choice(TYPOS)
        text = text.replace(a, b, 1)
    if r.random() < 0.08:
        text = text.lower()
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    if text.startswith(("Hi,", "Hello,", "Hey,")) and text[0].islower():  # after lower()
        text = text.capitalize()
    return text


def make(n: int, r: random.Random) -> list[dict]:
    cats = list(WEIGHTS)
    out = []
    for _ in range(n):
        c = r.choices(cats, weights=[WEIGHTS[k] for k in cats])[0]
        out.append({"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": ticket(c, r)},
                                 {"role": "assistant", "content": c}]})
    return out


def main(out_dir: Path | None = None) -> None:
    r = random.Random(SEED)
    here = out_dir or Path(__file__).resolve().parent
    rows = make(N_TRAIN + N_EVAL, r)
    seen, unique = set(), []
    for row in rows:  # no ticket twice (so no eval ticket is a training ticket)
        t = row["messages"][1]["content"]
        if t not in seen:
            seen.add(t)
            unique.append(row)
    train, ev = unique[:N_TRAIN], unique[N_TRAIN:N_TRAIN + N_EVAL]
    for name, part in (("train.jsonl", train), ("eval.jsonl", ev)):
        (here / name).write_text("".join(json.dumps(x) + "\n" for x in part), encoding="utf-8")
        counts = {c: sum(1 for x in part if x["messages"][2]["content"] == c) for c in WEIGHTS}
        print(name, len(part), counts)


if __name__ == "__main__":
    main()
