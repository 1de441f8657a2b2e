/**
 * Quoting of words for the files that tinyd service prints: POSIX shell
 * scripts (OpenRC, rc.d) and systemd unit files.
 */

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes a word for a POSIX shell: unchanged when it is safe, else in single quotes. */
export function shQuote(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Escapes text for the inside of a double-quoted shell string, where $, `,
 * " and \ keep a special meaning.
 */
export function shDoubleQuoted(text: string): string {
  return text.replace(/[$`"\\]/g, (character) => `\\${character}`);
}

/**
 * Quotes words for a shell variable that rc.subr and OpenRC expand with
 * eval, such as command_args: each word is shell-quoted for the eval, and
 * the result escaped for the double quotes of the assignment.
 */
export function shEvalWords(words: readonly string[]): string {
  return shDoubleQuoted(words.map(shQuote).join(" "));
}

/** Escapes % for the values of systemd settings that expand specifiers such as %n. */
export function systemdSpecifiers(text: string): string {
  return text.replaceAll("%", "%%");
}

/**
 * Quotes one word of a systemd command line (ExecStart=): $ and % are
 * doubled because systemd expands variables and specifiers, and a word with
 * a space, a quote, a backslash or a control character is put in double
 * quotes with C-style escapes. See systemd.service(5), "Command lines".
 */
export function systemdQuote(word: string): string {
  const escaped = systemdSpecifiers(word).replaceAll("$", () => "$$");
  if (escaped !== "" && /^[A-Za-z0-9_@%$+=:,./-]+$/.test(escaped) && escaped !== ";") return escaped;
  const inner = escaped.replace(/[\\"\x00-\x1f\x7f]/g, (character) => {
    switch (character) {
      case "\\":
        return "\\\\";
      case '"':
        return '\\"';
      case "\n":
        return "\\n";
      case "\t":
        return "\\t";
      default:
        return `\\x${character.charCodeAt(0).toString(16).padStart(2, "0")}`;
    }
  });
  return `"${inner}"`;
}
