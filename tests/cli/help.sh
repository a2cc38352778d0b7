#!/usr/bin/env bash
# CLI conventions (issue 14): every leaf command has its own --help
# (synopsis, an example, exit statuses); the man pages and the bash and
# zsh completion scripts are generated at build time from the same help
# text, render, complete, and are installed by `make install` (here:
# `cmake --install` into a scratch prefix).
. tests/cli/lib.sh
: "${ST_BUILD_DIR:?run through ctest}"
GEN=$ST_BUILD_DIR/generated

n=0
while read -r group leaf rest; do
    set -- $group $leaf $rest
    out=$(st "$@" --help) || fail "sealtrain $* --help exited $?"
    grep -q "^usage: sealtrain $* " <<<"$out" ||
        grep -q "^usage: sealtrain $*\$" <<<"$out" ||
        fail "sealtrain $* --help does not show its own synopsis: $(head -n2 <<<"$out")"
    grep -q "^Example:" <<<"$out" || fail "sealtrain $* --help has no example"
    grep -q "^Exit status:" <<<"$out" || fail "sealtrain $* --help has no exit statuses"
    n=$((n + 1))
done < <(st help --list)
[ "$n" -ge 60 ] || fail "only $n commands listed"
out=$(st job run --help)
! grep -q "submit SPEC" <<<"$out" || fail "job run --help printed the group's help"
ok "all $n commands answer --help with their own synopsis, an example and exit statuses"

for f in "$GEN"/man1/sealtrain.1 "$GEN"/man1/sealtrain-job.1 "$GEN"/man1/sealtrain-data.1; do
    [ -s "$f" ] || fail "no man page $f"
    warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null) ||
        fail "man $f: $warn"
    [ -z "$warn" ] || fail "man $f warns: $warn"
done
LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$GEN/man1/sealtrain-job.1" 2>/dev/null | col -b >"$T/job.txt"
grep -q "sealtrain job resume ID" "$T/job.txt" || fail "sealtrain-job(1) lacks resume: $(head "$T/job.txt")"
[ "$(ls "$GEN"/man1 | wc -l)" -ge 17 ] || fail "missing group man pages: $(ls "$GEN"/man1)"
ok "man pages for sealtrain and each group render without warnings"

# bash: drive the completion function as bash does
. "$GEN/sealtrain.bash"
complete_words() {
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _sealtrain
    printf '%s\n' "${COMPREPLY[@]}"
}
[ "$(complete_words sealtrain jo)" = job ] || fail "sealtrain jo<TAB>: $(complete_words sealtrain jo)"
complete_words sealtrain job r | sort | tr '\n' ' ' | grep -q "^report resume run $" ||
    fail "sealtrain job r<TAB>: $(complete_words sealtrain job r)"
complete_words sealtrain --as mo serve --max-c | grep -q -- "--max-conns-per-ip" ||
    fail "serve --max-c<TAB>: $(complete_words sealtrain --as mo serve --max-c)"
[ "$(complete -p sealtrain)" = "complete -o default -F _sealtrain sealtrain" ] ||
    fail "complete -p: $(complete -p sealtrain)"
[ "$(compgen -W "$(complete_words sealtrain a)" -- au)" = audit ] || fail "compgen"
ok "bash completion completes commands, subcommands and options"

# zsh: load the function through compinit from the generated file
mkdir -p "$T/zfunc"
cp "$GEN/_sealtrain" "$T/zfunc/"
zsh -n "$T/zfunc/_sealtrain" || fail "zsh completion does not parse"
zsh -f -c "fpath=($T/zfunc \$fpath); autoload -Uz compinit; compinit -u -d $T/zcd; \
    [[ \${_comps[sealtrain]} == _sealtrain ]]" ||
    fail "zsh compinit does not register _sealtrain"
ok "zsh completion parses and registers with compinit"

cmake --install "$ST_BUILD_DIR" --prefix "$T/inst" >/dev/null
for f in bin/sealtrain share/man/man1/sealtrain.1 share/man/man1/sealtrain-audit.1 \
    share/bash-completion/completions/sealtrain share/zsh/vendor-completions/_sealtrain; do
    [ -f "$T/inst/$f" ] || fail "make install did not install $f"
done
ok "the install puts the man pages and completion scripts in place"

# every option a synopsis shows is one its command takes (getopt would say
# "unrecognized option"; --json is taken before the command's own options)
bad=""
while read -r leaf; do
    # shellcheck disable=SC2086 # a leaf is one or two words
    syn=$(st help $leaf | sed -n 's/^usage: sealtrain //p' | head -n1)
    for o in $(grep -oE -- '--[a-z][a-z0-9-]*' <<<"$syn" | sort -u); do
        [ "$o" = --json ] && continue
        # shellcheck disable=SC2086
        out=$(st $leaf "$o=x" </dev/null 2>&1 || true)
        case $out in *"unrecognized option '$o"*) bad="$bad $leaf $o;" ;; esac
    done
done < <(st help --list)
[ -z "$bad" ] || fail "synopses name options their commands do not take:$bad"
ok "every option of every synopsis is taken by its command"
