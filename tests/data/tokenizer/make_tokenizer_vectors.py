#!/usr/bin/env python3
"""Makes the tokenizer test data of compresskv-vk (tests/test_tokenizer.cpp) and the Unicode range table.

Outputs (all next to this script unless noted):
  smollm2_vocab.txt     one token text per line, in id order (tokenizer.ggml.tokens of SmolLM2-135M-Instruct)
  smollm2_merges.txt    one merge per line, in rank order (tokenizer.ggml.merges)
  smollm2_meta.json     the other tokenizer.* keys: model, pre, special ids, flags, token types that are not 1,
                        chat template
  smollm2_vectors.json  expected ids from Hugging Face `tokenizers` (an independent implementation) for ~50
                        hand-picked and 40 seeded random strings, for the pre-tokenizers "smollm", "gpt2" and
                        "llama-bpe" over the same vocabulary, with and without special-token parsing, plus
                        chat-template strings rendered by transformers' apply_chat_template
  tok512_vectors.json   expected ids for llama2.c's tok512.bin, from a line-by-line Python port of llama2.c's
                        encode() (run.c), and llama2.c's greedy stories260K output as a decode check
  ../../../engine/tokenizer/unicode_ranges.cpp   \\p{L} and \\p{N} code point ranges from Python's unicodedata

Needs: pip install gguf tokenizers transformers jinja2 (no torch needed; the GGUF is read with `gguf`, and the
HF tokenizer is built from the dumped vocabulary/merges with SmolLM2's own tokenizer.json settings:
pre-tokenizer Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False)]).

Usage: python3 make_tokenizer_vectors.py [--gguf PATH] [--tok512 PATH]
"""
import argparse
import json
import os
import struct
import sys
import unicodedata
from importlib import metadata

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

DEFAULT_GGUF = os.path.join(REPO, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
DEFAULT_TOK512 = os.path.join(HERE, "tok512.bin")

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
                  r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")

TEST_STRINGS = [
    "Hello world",
    "Hello, world! How are you today?",
    "12345",
    "The year 2024 had 366 days.",
    "3.14159 + 2.71828 = 5.85987",
    "don't I'll we've they're she'd it's I'm",
    "DON'T I'LL WE'VE THEY'RE",
    "a  \n\n b",
    "   leading spaces",
    "trailing spaces   ",
    "\ttab\tseparated\tvalues\n",
    "line1\r\nline2\r\n\r\n  line3",
    "café naïve résumé Zürich",
    "日本語のテキスト",
    "中文分词测试，你好！",
    "한국어 텍스트",
    "Привет, мир!",
    "Γειά σου Κόσμε",
    "مرحبا بالعالم",
    "🙂 emoji 🎉🎉 👨‍👩‍👧‍👦",
    "def fib(n):\n    return n if n < 2 else fib(n-1) + fib(n-2)\n",
    'int main() { printf("%d\\n", 42); return 0; }',
    "<html><body><p>Hi</p></body></html>",
    "https://example.com/path?query=1&x=y#frag",
    "user@example.com",
    "!!!???...,,,;;;",
    "----====____****",
    "",
    " ",
    "\n",
    "          ",
    "a\u00a0b\u3000c\u2003d",
    "x\u00b2\u00b3 \u00bd \u2153 \u216b \u0663\u0664",
    "CamelCaseIdentifier snake_case_name kebab-case",
    "$100.00 €50 £20 ¥1000",
    "I said \"hello\" and 'goodbye'",
    "The quick brown fox jumps over the lazy dog. " * 3,
    "Mixed123Numbers456And789Letters",
    "ÀÉÎÕÜ àéîõü ß ẞ",
    "e\u0301 n\u0303 combining",
    "000000000000",
    "'s 's' hello'world's'",
    "unit\x1cseparator\x1fcontrol\x07bell",
    "    indented\n        more\n",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "text with <|endoftext|> in the middle",
    "<|im_end|><|im_end|>",
    "almost special <|im_start and <|im_end",
    "<repo_name>x<file_sep>y<gh_stars>10",
]

CONVERSATIONS = [
    ("one_user_message", [{"role": "user", "content": "Hello!"}]),
    ("system_and_user", [{"role": "system", "content": "You are a pirate."},
                         {"role": "user", "content": "What is the capital of France?"}]),
    ("user_assistant_user", [{"role": "user", "content": "Hi there"},
                             {"role": "assistant", "content": "Hello! How can I help?"},
                             {"role": "user", "content": "Tell me a joke.\nMake it short."}]),
]

# llama2.c README (shared/models/stories260K): greedy ids after BOS and the text run.c printed for them.
STORIES_GREEDY_IDS = [int(x) for x in """
403 407 261 378 432 383 286 261 376 298 315 421 395 317 426 338 401 396 267 337
410 408 419 292 411 322 265 282 295 433 426 385 328 432 358 394 261 370 432 352
266 268 388 426 338 391 266 267 337 335 312 432 398 312 286 267 414 270 333 415
426 13 438 310 439 419 357 336 432 313 438 310 432 278 316 439 419 298 414 267
265 282 295 433 426 436 317 286 296 418 269 279 292 416 439 413 409 416 327 263
415 294 267 400 426 338 336 432 313 442 391 267 337 335 364 420 268 388 432 398
359 280 303 439 413 272 417 264 312 426 436 13 438 310 286 296 418 269 279 292
416 439 413 409 416 327 263 415 294 267 400 426 338 336 432 313 442 439 423 262
304 420 422 432 317 426 359 279 292 416 439 413 409 416 327 263 415 294 267 400
426 436 13 438 310 279 292 416 439 413 391 267 281 421 427 311 357 432 384 358
""".split()]
STORIES_GREEDY_TEXT = (
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she "
    "saw a big, red ball. She wanted to play with it, but it was too high.\n"
    "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want "
    "to play with your ball, but I can't find it.\"\n"
    "Lily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\n"
    "Lily didn't want to help her mom, so she")

TOK512_STRINGS = [
    "Once upon a time, there was a little girl named Lily.",
    "Lily's mom said, \"Lily, let's go to the park.\"",
    "hello world",
    "",
    " ",
    "a",
    "  two leading spaces",
    "line one\nline two\n\n",
    "The cat sat on the mat. The dog ran away!",
    "café naïve",
    "日本語 🙂",
    "12345 + 678 = 13023",
    "\ttabs\tand\tspaces   ",
    "<s> is not special here",
    STORIES_GREEDY_TEXT,
]


# Random strings over characters that stress the pre-tokenizer regexes (every whitespace kind, contractions in
# both cases, digits of several scripts, combining marks, specials); fixed seeds.
BPE_RANDOM_POOL = (list(" \t\n\r\u000b\u000c  \u00a0\u3000\u2003\u0085'''sStTrReEvVmMlLdD"
                        "0123456789abcXYZéßñ日本語한\u0301\u0663½²!?.,;:-_\"()[]<>/\\|@#$%^&*+=~`🙂\u200d")
                   + ["'s", "'LL", "'re", "\r\n", "  ", "<|im_end|>", "<|im_start|>", "don't", "123"])
SPM_RANDOM_POOL = (list("abcdefghijklmnopqrstuvwxyz      ABCDEFGLOST.,!?'\"\n\t0123456789éß日🙂")
                   + ["the ", " and", "Once upon a time", "Lily", " was "])


def random_strings(pool, count, max_len, seed):
    import random
    rng = random.Random(seed)
    return ["".join(rng.choice(pool) for _ in range(rng.randint(0, max_len))) for _ in range(count)]


def write_json(name, header, lists):
    """JSON with one case per line (compact ids), readable in diffs."""
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        f.write("{\n")
        for key, value in header.items():
            f.write(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n")
        for i, (key, items) in enumerate(lists.items()):
            f.write(f" {json.dumps(key)}: [\n")
            f.write(",\n".join("  " + json.dumps(x, ensure_ascii=False) for x in items))
            f.write("\n ]" + ("," if i + 1 < len(lists) else "") + "\n")
        f.write("}\n")


def versions():
    out = {"python": sys.version.split()[0], "unicodedata": unicodedata.unidata_version}
    for pkg in ("gguf", "tokenizers", "transformers", "jinja2"):
        out[pkg] = metadata.version(pkg)
    return out


# ---------------------------------------------------------------------------------------------------- GGUF dump
def dump_gguf(path):
    import hashlib
    import gguf
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    if digest != GGUF_SHA256:
        sys.exit(f"{path}: sha256 {digest} is not the expected {GGUF_SHA256}")
    reader = gguf.GGUFReader(path)

    def array(key):
        field = reader.fields[key]
        return [field.parts[i] for i in field.data]

    def scalar(key):
        field = reader.fields[key]
        part = field.parts[field.data[0]]
        if field.types[0] == gguf.GGUFValueType.STRING:
            return bytes(part).decode("utf-8")
        return part.tolist()[0]

    tokens = [bytes(p).decode("utf-8") for p in array("tokenizer.ggml.tokens")]
    types = [int(p[0]) for p in array("tokenizer.ggml.token_type")]
    merges = [bytes(p).decode("utf-8") for p in array("tokenizer.ggml.merges")]
    for t in tokens + merges:
        assert not any(c in t for c in "\n\r"), repr(t)  # one per line is unambiguous
    meta = {
        "source": os.path.basename(path) + " sha256 " + GGUF_SHA256,
        "model": scalar("tokenizer.ggml.model"),
        "pre": scalar("tokenizer.ggml.pre"),
        "bos": scalar("tokenizer.ggml.bos_token_id"),
        "eos": scalar("tokenizer.ggml.eos_token_id"),
        "unk": scalar("tokenizer.ggml.unknown_token_id"),
        "pad": scalar("tokenizer.ggml.padding_token_id"),
        "add_bos": bool(scalar("tokenizer.ggml.add_bos_token")),
        "add_space_prefix": bool(scalar("tokenizer.ggml.add_space_prefix")),
        "vocab_size": len(tokens),
        "token_types_not_normal": {str(i): t for i, t in enumerate(types) if t != 1},
        "chat_template": scalar("tokenizer.chat_template"),
    }
    with open(os.path.join(HERE, "smollm2_vocab.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(t + "\n" for t in tokens))
    with open(os.path.join(HERE, "smollm2_merges.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(m + "\n" for m in merges))
    with open(os.path.join(HERE, "smollm2_meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return tokens, types, merges, meta


# ------------------------------------------------------------------------------------------ HF reference vectors
def hf_tokenizer(tokens, types, merges, pre):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    # Llama-3's tokenizer.json sets ignore_merges: a piece that is a token as a whole is not merged.
    tk = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)},
                              merges=[tuple(m.split(" ")) for m in merges], ignore_merges=(pre == "llama-bpe")))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre == "smollm":  # SmolLM2's tokenizer.json
        tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    elif pre == "gpt2":  # GPT-2's tokenizer.json: ByteLevel with its built-in GPT-2 regex
        tk.pre_tokenizer = byte_level
    elif pre == "llama-bpe":  # Llama-3's tokenizer.json
        tk.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        raise ValueError(pre)
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                           for i in range(len(tokens)) if types[i] == 3])
    return tk


def make_smollm2_vectors(tokens, types, merges, meta):
    from transformers import PreTrainedTokenizerFast
    cases = []
    randoms = random_strings(BPE_RANDOM_POOL, 40, 25, seed=2508)
    for pre in ("smollm", "gpt2", "llama-bpe"):
        tk = hf_tokenizer(tokens, types, merges, pre)
        for text in TEST_STRINGS + randoms:
            tk.encode_special_tokens = False
            ids = tk.encode(text, add_special_tokens=False).ids
            assert tk.decode(ids, skip_special_tokens=False) == text, (pre, text)
            case = {"pre": pre, "text": text, "ids": ids}
            tk.encode_special_tokens = True
            plain = tk.encode(text, add_special_tokens=False).ids
            if plain != ids:
                case["ids_no_special"] = plain
            cases.append(case)

    tk = hf_tokenizer(tokens, types, merges, "smollm")
    hf = PreTrainedTokenizerFast(tokenizer_object=tk, chat_template=meta["chat_template"],
                                 bos_token=tokens[meta["bos"]], eos_token=tokens[meta["eos"]],
                                 unk_token=tokens[meta["unk"]], pad_token=tokens[meta["pad"]])
    chats = []
    for name, messages in CONVERSATIONS:
        for add_generation_prompt in (False, True):
            text = hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
            assert isinstance(text, str)
            chats.append({"name": name, "messages": messages, "add_generation_prompt": add_generation_prompt,
                          "text": text, "ids": tk.encode(text, add_special_tokens=False).ids})
    out = {
        "about": "Expected ids from Hugging Face tokenizers (BPE over the SmolLM2-135M-Instruct GGUF vocabulary); "
                 "'ids' parse special tokens, 'ids_no_special' (only where different) treat them as text. Chat "
                 "strings from transformers' apply_chat_template with the GGUF's tokenizer.chat_template.",
        "made_by": "tests/data/tokenizer/make_tokenizer_vectors.py",
        "versions": versions(),
        "cases": cases,
        "chats": chats,
    }
    write_json("smollm2_vectors.json", {k: out[k] for k in ("about", "made_by", "versions")},
               {"cases": cases, "chats": chats})
    return len(cases), len(chats)


# ------------------------------------------------------------------------------------ llama2.c port (reference)
def read_tok512(path, vocab_size=512):
    data = open(path, "rb").read()
    (max_len,) = struct.unpack_from("<i", data, 0)
    offset, vocab, scores = 4, [], []
    for _ in range(vocab_size):
        score, n = struct.unpack_from("<fi", data, offset)
        offset += 8
        vocab.append(data[offset:offset + n])
        scores.append(score)
        offset += n
    assert offset == len(data)
    return vocab, scores, max_len


def llama2c_encode(vocab, scores, text: bytes, bos: bool, eos: bool):
    """A line-by-line port of encode() in llama2.c run.c (commit 350e04fe)."""
    lookup = {}
    for i, piece in enumerate(vocab):  # str_lookup: bsearch over the sorted vocab; first id wins on duplicates
        lookup.setdefault(piece, i)
    tokens = []
    if bos:
        tokens.append(1)
    if text:  # add_dummy_prefix, only for non-empty text
        tokens.append(lookup.get(b" ", -1))
    buf = b""
    for i, c in enumerate(text):
        if (c & 0xC0) != 0x80:
            buf = b""
        buf += bytes([c])
        nxt = text[i + 1] if i + 1 < len(text) else 0
        if (nxt & 0xC0) == 0x80 and len(buf) < 4:
            continue
        if buf in lookup:
            tokens.append(lookup[buf])
        else:  # byte fallback: the first 3 vocab elements are <unk>, <s>, </s>
            tokens.extend(b + 3 for b in buf)
        buf = b""
    while True:
        best_score, best_id, best_idx = -1e10, -1, -1
        for i in range(len(tokens) - 1):
            merged = vocab[tokens[i]] + vocab[tokens[i + 1]]
            if merged in lookup and scores[lookup[merged]] > best_score:
                best_score, best_id, best_idx = scores[lookup[merged]], lookup[merged], i
        if best_idx == -1:
            break
        tokens[best_idx:best_idx + 2] = [best_id]
    if eos:
        tokens.append(2)
    return tokens


def llama2c_decode(vocab, prev, token):
    """decode() in run.c: strip the leading space after BOS, map <0xNN> to the raw byte."""
    piece = vocab[token]
    if prev == 1 and piece[:1] == b" ":
        piece = piece[1:]
    if len(piece) == 6 and piece.startswith(b"<0x") and piece.endswith(b">"):
        try:
            return bytes([int(piece[3:5], 16)])
        except ValueError:
            pass
    return piece


def make_tok512_vectors(path):
    vocab, scores, _ = read_tok512(path)
    cases = []
    for text in TOK512_STRINGS + random_strings(SPM_RANDOM_POOL, 30, 30, seed=512):
        raw = text.encode("utf-8")
        ids = llama2c_encode(vocab, scores, raw, bos=True, eos=False)
        decoded = b"".join(llama2c_decode(vocab, p, t) for p, t in zip(ids, ids[1:]))
        assert decoded == raw, (text, decoded)
        cases.append({"text": text, "ids_with_bos": ids})
    greedy = [1] + STORIES_GREEDY_IDS
    greedy_text = b"".join(llama2c_decode(vocab, p, t) for p, t in zip(greedy, greedy[1:])).decode("utf-8")
    assert greedy_text == STORIES_GREEDY_TEXT, repr(greedy_text)
    out = {
        "about": "Expected ids for tok512.bin (llama2.c stories260K) from a Python port of llama2.c's encode() "
                 "with bos=1, eos=0 (dummy-prefix space, code points then byte fallback, best-score pair merges). "
                 "'greedy' is run.c's greedy output for stories260K after BOS, as listed in the model's README.",
        "made_by": "tests/data/tokenizer/make_tokenizer_vectors.py",
        "versions": {"python": sys.version.split()[0]},
        "cases": cases,
        "greedy": {"ids_after_bos": STORIES_GREEDY_IDS, "text": STORIES_GREEDY_TEXT},
    }
    write_json("tok512_vectors.json", {k: out[k] for k in ("about", "made_by", "versions", "greedy")},
               {"cases": cases})
    return len(cases)


# ---------------------------------------------------------------------------------------- Unicode range table
def code_point_ranges(prefix):
    ranges, start = [], None
    for cp in range(0x110000 + 1):
        inside = cp < 0x110000 and unicodedata.category(chr(cp)).startswith(prefix)
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            ranges.append((start, cp - 1))
            start = None
    return ranges


def write_unicode_table():
    def table(name, ranges):
        rows = []
        for i in range(0, len(ranges), 5):
            rows.append("    " + " ".join(f"{{0x{a:05X}, 0x{b:05X}}}," for a, b in ranges[i:i + 5]))
        return (f"const CodePointRange {name}[] = {{\n" + "\n".join(rows) + "\n};\n"
                f"const std::size_t {name}Count = sizeof({name}) / sizeof({name}[0]);\n")

    letters, numbers = code_point_ranges("L"), code_point_ranges("N")
    text = (
        "// GENERATED by tests/data/tokenizer/make_tokenizer_vectors.py from Python's unicodedata "
        f"(Unicode {unicodedata.unidata_version}); do not edit.\n"
        "// Sorted, disjoint, inclusive code point ranges of the general categories L (\\p{L}) and N (\\p{N}).\n"
        "#include \"engine/tokenizer/unicode.hpp\"\n\n"
        "namespace ckv::unicode::detail {\n\n"
        + table("kLetterRanges", letters) + "\n" + table("kNumberRanges", numbers) +
        "\n}  // namespace ckv::unicode::detail\n")
    with open(os.path.join(REPO, "engine", "tokenizer", "unicode_ranges.cpp"), "w", encoding="utf-8") as f:
        f.write(text)
    return len(letters), len(numbers)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gguf", default=DEFAULT_GGUF)
    parser.add_argument("--tok512", default=DEFAULT_TOK512)
    args = parser.parse_args()
    print("unicode ranges (L, N):", write_unicode_table())
    tokens, types, merges, meta = dump_gguf(args.gguf)
    print("smollm2 vocab", len(tokens), "merges", len(merges))
    print("smollm2 cases, chats:", make_smollm2_vectors(tokens, types, merges, meta))
    print("tok512 cases:", make_tok512_vectors(args.tok512))


if __name__ == "__main__":
    main()
