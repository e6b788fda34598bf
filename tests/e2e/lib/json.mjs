// JSON parsing that keeps every number's exact text, so tests can assert the
// digits sluice wrote (int8 beyond 2^53, numeric with many digits or trailing
// zeros) instead of what a double makes of them.
//
// parseExact(text): like JSON.parse, but a number whose text is not exactly
// what JavaScript would print for it (String(Number(text)) !== text) becomes a
// JsonNumber holding the text; other numbers stay plain numbers.

export class JsonNumber {
  constructor(text) {
    this.text = text;
  }
  toString() {
    return this.text;
  }
}

// An exact number for expectations: num('9223372036854775807').
export function num(text) {
  return String(Number(text)) === text ? Number(text) : new JsonNumber(text);
}

export function parseExact(text) {
  let i = 0;
  const fail = (what) => {
    throw new SyntaxError(`invalid JSON at offset ${i}: ${what} in ${text.slice(0, 200)}`);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = {};
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const key = string();
        ws();
        if (text[i++] !== ':') fail('expected ":"');
        obj[key] = value();
        ws();
        const d = text[i++];
        if (d === '}') return obj;
        if (d !== ',') fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        ws();
        const d = text[i++];
        if (d === ']') return arr;
        if (d !== ',') fail('expected "," or "]"');
      }
    }
    if (c === '"') return string();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 1000));
    if (!m) fail('unexpected character');
    i += m[0].length;
    return num(m[0]);
  };
  const string = () => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('unterminated string');
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const result = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return result;
}
