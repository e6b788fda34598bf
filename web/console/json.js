// JSON shown as it is: numbers keep their exact text (a bigint column or a
// numeric can be beyond a double), the output is indented, and tokens are
// coloured by the classes j-key, j-string, j-number, j-literal.

// A number as written in the JSON text.
export class RawNumber {
  constructor(text) {
    this.text = text;
  }
}

// Parses JSON like JSON.parse, but numbers become RawNumber. Throws a
// SyntaxError naming the offset on bad input.
export function parseExact(text) {
  let at = 0;
  const fail = (what) => {
    throw new SyntaxError(`JSON: ${what} at offset ${at}`);
  };
  const space = () => {
    while (at < text.length && ' \t\r\n'.includes(text[at])) at++;
  };
  const string = () => {
    const start = at++;
    while (at < text.length && text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
    if (at >= text.length) fail('unterminated string');
    at++;
    return JSON.parse(text.slice(start, at));
  };
  const value = () => {
    space();
    const c = text[at];
    if (c === '{') {
      at++;
      const out = {};
      space();
      if (text[at] === '}') return at++, out;
      for (;;) {
        space();
        if (text[at] !== '"') fail('expected a key');
        const key = string();
        space();
        if (text[at++] !== ':') fail('expected ":"');
        out[key] = value();
        space();
        if (text[at] === ',') at++;
        else if (text[at] === '}') return at++, out;
        else fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      at++;
      const out = [];
      space();
      if (text[at] === ']') return at++, out;
      for (;;) {
        out.push(value());
        space();
        if (text[at] === ',') at++;
        else if (text[at] === ']') return at++, out;
        else fail('expected "," or "]"');
      }
    }
    if (c === '"') return string();
    for (const [word, literal] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(word, at)) return (at += word.length), literal;
    }
    const number = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(at, at + 400));
    if (!number) fail('unexpected character');
    at += number[0].length;
    return new RawNumber(number[0]);
  };
  const result = value();
  space();
  if (at !== text.length) fail('trailing text');
  return result;
}

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof RawNumber);

// Indented JSON text of a parseExact value (what the copy buttons copy).
export function stringifyExact(value, indent = '') {
  if (value instanceof RawNumber) return value.text;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const inner = indent + '  ';
    return `[\n${value.map((v) => inner + stringifyExact(v, inner)).join(',\n')}\n${indent}]`;
  }
  if (isPlainObject(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0) return '{}';
    const inner = indent + '  ';
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${stringifyExact(v, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value);
}

// Coloured, indented JSON as a DocumentFragment for a <pre>. Strings longer
// than maxString characters are cut, with a note of how much is hidden.
export function renderJson(value, {maxString = Infinity} = {}) {
  const out = document.createDocumentFragment();
  let plain = '';
  const flush = () => {
    if (plain) out.append(plain);
    plain = '';
  };
  const token = (cls, text) => {
    flush();
    const span = document.createElement('span');
    span.className = cls;
    span.textContent = text;
    out.append(span);
  };
  const stringToken = (cls, s) => {
    if (s.length <= maxString) return token(cls, JSON.stringify(s));
    token(cls, `${JSON.stringify(s.slice(0, maxString)).slice(0, -1)}…"`);
    token('j-cut', ` (${(s.length - maxString).toLocaleString()} more characters)`);
  };
  const walk = (v, indent) => {
    if (v instanceof RawNumber) return token('j-number', v.text);
    if (typeof v === 'number') return token('j-number', String(v));
    if (typeof v === 'string') return stringToken('j-string', v);
    if (v === null || typeof v === 'boolean') return token('j-literal', String(v));
    const inner = indent + '  ';
    if (Array.isArray(v)) {
      if (v.length === 0) return (plain += '[]');
      plain += '[\n';
      v.forEach((item, i) => {
        plain += inner;
        walk(item, inner);
        plain += i + 1 < v.length ? ',\n' : '\n';
      });
      plain += `${indent}]`;
      return;
    }
    const entries = Object.entries(v);
    if (entries.length === 0) return (plain += '{}');
    plain += '{\n';
    entries.forEach(([k, item], i) => {
      plain += inner;
      token('j-key', JSON.stringify(k));
      plain += ': ';
      walk(item, inner);
      plain += i + 1 < entries.length ? ',\n' : '\n';
    });
    plain += `${indent}}`;
  };
  walk(value, '');
  flush();
  return out;
}
