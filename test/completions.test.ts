/**
 * Tests of the completion files in build/completions: each is current with
 * the declarations, lists every declared option of every subcommand, parses
 * in its shell, and completes real command lines there.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type CompletionSubcommand, completionFiles, completionModel, spellings } from "../scripts/lib/completions";
import { ROOT, tempDir } from "./helpers";

const DIRECTORY = join(ROOT, "build", "completions");
const BASH = join(DIRECTORY, "tinyd.bash");
const ZSH = join(DIRECTORY, "_tinyd");
const FISH = join(DIRECTORY, "tinyd.fish");
const model = completionModel();

function run(command: string[], env: Record<string, string> = {}): { exitCode: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync(command, { cwd: ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

/** A temporary directory with app.log, app.pid and apps/web in it. */
function fileTree(): string {
  const dir = tempDir();
  mkdirSync(join(dir, "apps"));
  for (const file of ["app.log", "app.pid", "apps/web"]) writeFileSync(join(dir, file), "");
  return dir;
}

function declared(sub: CompletionSubcommand): string[] {
  return sub.options.flatMap(spellings).sort();
}

/** Runs bash's completion function on the words; the last word is the one being completed. */
function bashComplete(words: string[]): string[] {
  const quoted = words.map((word) => `'${word}'`).join(" ");
  const script = `source '${BASH}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _tinyd; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const result = run(["bash", "--norc", "-c", script]);
  expect(result.stderr).toBe("");
  return result.stdout.split("\n").filter((line) => line !== "");
}

function fishComplete(line: string): string[] {
  const result = run(["fish", "--no-config", "-c", `source '${FISH}'; complete -C '${line}'`]);
  expect(result.stderr).toBe("");
  return result.stdout
    .split("\n")
    .filter((entry) => entry !== "")
    .map((entry) => entry.split("\t")[0]!);
}

test("build files match the generator", () => {
  for (const [name, text] of Object.entries(completionFiles())) {
    expect(readFileSync(join(DIRECTORY, name), "utf8")).toBe(text);
  }
});

test("model covers every subcommand", () => {
  expect(model.map((sub) => sub.name)).toEqual(["start", "stop", "status", "signal", "reload", "service"]);
});

describe("bash completion", () => {
  test("bash parses the file", () => {
    expect(run(["bash", "-n", BASH]).exitCode).toBe(0);
  });

  test("lists every declared option", () => {
    for (const sub of model) {
      const result = run(["bash", "--norc", "-c", `source '${BASH}'; _tinyd_options ${sub.name}`]);
      expect(result.stdout.split("\n").filter(Boolean).sort()).toEqual(declared(sub));
    }
  });

  test("completes command lines", () => {
    const dir = fileTree();
    expect(bashComplete(["tinyd", ""])).toEqual(model.map((sub) => sub.name));
    expect(bashComplete(["tinyd", "--pid"])).toEqual(["--pidfile"]);
    expect(bashComplete(["tinyd", "stop", "--ti"])).toEqual(["--timeout"]);
    expect(bashComplete(["tinyd", "stop", "-s", "TE"])).toEqual(["TERM"]);
    expect(bashComplete(["tinyd", "signal", "-p", "x", "HU"])).toEqual(["HUP"]);
    expect(bashComplete(["tinyd", "service", ""])).toEqual(["systemd", "openrc", "rcd"]);
    expect(bashComplete(["tinyd", "service", "systemd", "web", "--tin"])).toEqual(["--tinyd"]);
    expect(bashComplete(["tinyd", "-p", `${dir}/x`, "slee"])).toContain("sleep");
    expect(bashComplete(["tinyd", "-cfp", `${dir}/app`]).sort()).toEqual([`${dir}/app.log`, `${dir}/app.pid`, `${dir}/apps`]);
    expect(bashComplete(["tinyd", "--cwd", `${dir}/app`])).toEqual([`${dir}/apps`]);
    // After the command's name, tinyd's options are the command's.
    expect(bashComplete(["tinyd", "-p", "x", "sleep", "--pid"])).toEqual([]);
  });
});

describe("zsh completion", () => {
  const zsh = Bun.which("zsh");

  test("zsh parses the file", () => {
    if (zsh === null) return void console.log("skipped: zsh is not installed");
    expect(run([zsh, "-n", ZSH]).exitCode).toBe(0);
  });

  test("lists every declared option", () => {
    if (zsh === null) return void console.log("skipped: zsh is not installed");
    for (const sub of model) {
      const result = run([zsh, "-f", "-c", `source '${ZSH}'; _tinyd_options ${sub.name}; print -rl -- $reply`]);
      expect(result.stderr).toBe("");
      const listed = result.stdout
        .split("\n")
        .filter(Boolean)
        .map((spec) => /^(?:\([^)]*\))?\*?(-{1,2}[A-Za-z0-9-]+)/.exec(spec)?.[1] ?? spec);
      expect(listed.sort()).toEqual(declared(sub));
    }
  });

  test("completes in a terminal", async () => {
    if (zsh === null) return void console.log("skipped: zsh is not installed");
    const dir = tempDir();
    Bun.spawnSync(["cp", ZSH, dir]);
    // zpty runs an interactive zsh with compinit, types a line and a tab, and prints the screen.
    const script = `
zmodload zsh/zpty
zpty z ${zsh} -f -i
zpty -w z 'PS1="%% "; fpath=(${dir} $fpath); autoload -Uz compinit; compinit -u -D; cd ${ROOT}'
complete() {
  local out= more
  zpty -w -n z "$1"$'\\t'
  repeat 50; do
    sleep 0.1
    while zpty -r -t z more 2>/dev/null; do out+=$more; done
    [[ $out == *$2* ]] && break
  done
  print -r -- "$out"
  zpty -w -n z $'\\x03'
  sleep 0.2
  while zpty -r -t z more 2>/dev/null; do :; done
}
complete 'tinyd --pid' 'pidfile'
complete 'tinyd service ' 'systemd'
complete 'tinyd stop -s TE' 'TERM'
zpty -d z
`;
    const result = run([zsh, "-f", "-c", script]);
    const screen = result.stdout.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
    expect(screen).toContain("tinyd --pidfile=");
    expect(screen).toContain("openrc");
    expect(screen).toContain("rcd");
    expect(screen).toContain("tinyd stop -s TERM");
  });
});

describe("fish completion", () => {
  const fish = Bun.which("fish");

  test("fish parses the file", () => {
    if (fish === null) return void console.log("skipped: fish is not installed");
    expect(run([fish, "--no-execute", FISH]).exitCode).toBe(0);
  });

  test("lists every declared option", () => {
    if (fish === null) return void console.log("skipped: fish is not installed");
    for (const sub of model) {
      let prefix = `tinyd ${sub.name}`;
      if (sub.name === "start") prefix = "tinyd";
      if (sub.name === "service") prefix = "tinyd service systemd web";
      const listed = new Set(fishComplete(`${prefix} -`));
      expect([...listed].sort()).toEqual(declared(sub));
    }
  });

  test("completes command lines", () => {
    if (fish === null) return void console.log("skipped: fish is not installed");
    expect(fishComplete("tinyd sto")).toContain("stop");
    expect(fishComplete("tinyd stop -s TE")).toEqual(["TERM"]);
    expect(fishComplete("tinyd service ").sort()).toEqual(["openrc", "rcd", "systemd"]);
    const dir = fileTree();
    expect(fishComplete(`tinyd -p ${dir}/app`).sort()).toEqual([`${dir}/app.log`, `${dir}/app.pid`, `${dir}/apps/`]);
    expect(fishComplete(`tinyd --cwd ${dir}/app`)).toEqual([`${dir}/apps/`]);
    expect(fishComplete("tinyd -p x slee")).toContain("sleep");
    expect(fishComplete(`tinyd -p x -- ls ${dir}/apps/`)).toEqual([`${dir}/apps/web`]);
  });
});
