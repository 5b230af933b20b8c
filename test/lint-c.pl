#!/usr/bin/env perl
# lint-c.pl -- the two checks of test/lint.sh that read C: function length and file prefixes.
#
#   perl test/lint-c.pl length [--max N] [--exempt LIST] FILE...
#   perl test/lint-c.pl prefix [--alias LIST] FILE...
#   perl test/lint-c.pl list FILE...        (every function with its length, for people)
#
# Prints one line per finding, "file:line: what is wrong -- what to do", and exits 1 when
# there is one (2 on a usage error or an unreadable file). Reads clang-format's layout but does
# not rely on it: comments, string and character literals and preprocessor lines are blanked
# first, then braces are counted.
#
# length: a function's length is the number of lines from the first line of its definition
#   (where the return type, `static` and the like begin; a comment above is not counted) to the
#   line of its closing brace, both counted: `int f(void)`, `{`, 77 lines, `}` make 80. A
#   function longer than --max (default 80) is a finding unless LIST has a line
#   `path:function -- reason` for it (path as given on the command line). LIST holds at most 5 entries (blank lines and lines starting with # aside); each must
#   give a reason, name a function that exists in the files checked, and that function must
#   still be longer than the limit -- an entry that no longer applies is a finding too.
# prefix: in each file, every file-static function (`static` in its definition or
#   prototype), every file-scope static variable and every struct/union/enum tag defined at
#   file scope of a .c file must start with the file's prefix followed by `_`, in either case
#   (`reflector_run`, `REFLECTOR_KINDS`), or be the prefix itself. The prefix is the file's
#   base name without .c/.h (`reflector` for issuer/kube/reflector.c) or, where LIST has a
#   line `path alias -- reason`, that short alias (`ctl` for controller.c). `main` is always
#   allowed. Names declared inside a function (block-scope statics, local struct tags) are not
#   file-scope and are not checked.
use strict;
use warnings;

my $mode = shift @ARGV // '';
my $max = 80;
my ($exempt_file, $alias_file);
while (@ARGV && $ARGV[0] =~ /^--/) {
    my $opt = shift @ARGV;
    if ($opt eq '--max') { $max = shift @ARGV }
    elsif ($opt eq '--exempt') { $exempt_file = shift @ARGV }
    elsif ($opt eq '--alias') { $alias_file = shift @ARGV }
    elsif ($opt eq '--') { last }
    else { usage() }
}
usage() unless $mode =~ /^(length|prefix|list)$/ && @ARGV && defined $max && $max =~ /^\d+$/;

sub usage
{
    print STDERR "usage: lint-c.pl length [--max N] [--exempt LIST] FILE...\n"
        . "       lint-c.pl prefix [--alias LIST] FILE...\n"
        . "       lint-c.pl list FILE...\n";
    exit 2;
}

# Blanks comments, string and character literals and preprocessor lines (with their
# continuations) to spaces, keeping every newline so that offsets map to the same lines.
sub blank
{
    my ($src) = @_;
    $src =~ s{/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'}{
        (my $m = $&) =~ s/[^\n]/ /g; $m }gse;
    $src =~ s{^[ \t]*#(?:[^\n]*\\\n)*[^\n]*}{ (my $m = $&) =~ s/[^\n]/ /g; $m }gme;
    return $src;
}

sub line_of
{
    my ($text, $off) = @_;
    return 1 + (substr($text, 0, $off) =~ tr/\n//);
}

# Removes __attribute__((...)) groups, balanced.
sub drop_attributes
{
    my ($s) = @_;
    while ($s =~ /\b__attribute__\s*\(/g) {
        my $start = $-[0];
        my $i = pos($s) - 1;
        my $depth = 0;
        for (; $i < length $s; $i++) {
            my $c = substr($s, $i, 1);
            $depth++ if $c eq '(';
            $depth-- if $c eq ')';
            last if $depth == 0;
        }
        substr($s, $start, $i - $start + 1) = ' ';
        pos($s) = $start;
    }
    return $s;
}

# Splits a file-scope declaration (braces already removed) at its top-level commas.
sub split_top
{
    my ($s) = @_;
    my @parts;
    my ($depth, $cur) = (0, '');
    for my $c (split //, $s) {
        $depth++ if $c eq '(' || $c eq '[';
        $depth-- if $c eq ')' || $c eq ']';
        if ($c eq ',' && $depth == 0) { push @parts, $cur; $cur = ''; next }
        $cur .= $c;
    }
    push @parts, $cur;
    return @parts;
}

# The name a declarator declares, read from its top-level "(...)" groups (what a parameter list
# holds is not read): "(*name)" for a pointer to function, else the identifier before the first
# group for a function -- a group followed by "*" is a type macro's (`STACK_OF(X509) *f(void)`),
# not a parameter list -- else the last identifier.
sub declared_name
{
    my ($d) = @_;
    $d =~ s/=.*//s;       # initializer (braces were removed already)
    $d =~ s/\[[^\]]*\]//g;    # array bounds
    my ($depth, $start, @groups) = (0, 0);
    for my $i (0 .. length($d) - 1) {
        my $c = substr($d, $i, 1);
        if ($c eq '(') { $start = $i if $depth++ == 0 }
        elsif ($c eq ')' && $depth > 0 && --$depth == 0) { push @groups, [$start, $i] }
    }
    return $1 if @groups && substr($d, $groups[0][0] + 1) =~ /^\s*\*\s*(?:const\s+)?(\w+)/;
    for my $g (@groups) {
        next if substr($d, $g->[1] + 1) =~ /^\s*\*/;
        return $1 if substr($d, 0, $g->[0]) =~ /(\w+)\s*$/;
    }
    my @ids = $d =~ /(\w+)/g;
    return @ids ? $ids[-1] : undef;
}

# Parses one file: its functions (name, first line of the definition, line of the closing
# brace, static or not) and its file-scope static names and tags.
sub parse
{
    my ($path) = @_;
    open(my $fh, '<', $path) or do { print STDERR "lint-c.pl: cannot read $path: $!\n"; exit 2 };
    local $/;
    my $text = blank(scalar <$fh>);
    close $fh;
    my (@funcs, @names);
    my $depth = 0;
    my $stmt_start = 0;     # offset where the current file-scope declaration began
    my $outer = '';         # its text at depth 0, brace contents left out
    my $kind = '';          # of the block open at depth 1: 'function' or 'block'
    for (my $i = 0; $i < length $text; $i++) {
        my $c = substr($text, $i, 1);
        if ($c eq '{') {
            if ($depth == 0) {
                my $head = drop_attributes($outer);
                if ($head =~ /\)\s*$/) {
                    $kind = 'function';
                } else {
                    $kind = 'block';
                    if ($head =~ /\b(struct|union|enum)\s+(\w+)\s*$/) {
                        push @names, { what => "$1 tag", name => $2, line => line_of($text, $i) };
                    }
                }
            }
            $depth++;
            next;
        }
        if ($c eq '}') {
            $depth--;
            if ($depth < 0) {
                print STDERR "lint-c.pl: $path:" . line_of($text, $i) . ": unbalanced }\n";
                exit 2;
            }
            if ($depth == 0 && $kind eq 'function') {
                my $head = drop_attributes($outer);
                my $name = declared_name($head);
                my $sig = $stmt_start + (length($outer) - length($outer =~ s/^\s+//r));
                push @funcs, {
                    name => $name,
                    sig => line_of($text, $sig),
                    last => line_of($text, $i),
                    static => ($head =~ /^[^(]*\bstatic\b/ ? 1 : 0),
                };
                $kind = '';
                $outer = '';
                $stmt_start = $i + 1;
            }
            next;
        }
        next if $depth > 0;
        if ($c eq ';') {
            my $decl = drop_attributes($outer);
            if ($decl =~ /^\s*(?:\w+\s+)*?static\b/) {
                my $line = line_of($text, $stmt_start + (length($outer) - length($outer =~ s/^\s+//r)));
                for my $d (split_top($decl)) {
                    my $n = declared_name($d);
                    next unless defined $n && $n ne 'static';
                    my $isfn = $d =~ /\b\Q$n\E\s*\(/ && $d !~ /^[^(]*\(\s*\*/;
                    push @names, { what => $isfn ? 'static function' : 'static variable',
                                   name => $n, line => $line };
                }
            }
            $outer = '';
            $stmt_start = $i + 1;
            $kind = '';
            next;
        }
        $outer .= $c;
    }
    for my $f (@funcs) {
        push @names, { what => 'static function', name => $f->{name}, line => $f->{sig} }
            if $f->{static};
    }
    return (\@funcs, \@names);
}

# Reads a list file: entries without the blank lines and # comments, each with its line.
sub read_list
{
    my ($path) = @_;
    open(my $fh, '<', $path) or do { print STDERR "lint-c.pl: cannot read $path: $!\n"; exit 2 };
    my @entries;
    while (my $l = <$fh>) {
        chomp $l;
        next if $l =~ /^\s*(#|$)/;
        push @entries, { text => $l, line => $. };
    }
    close $fh;
    return @entries;
}

my $findings = 0;
sub finding { print "$_[0]\n"; $findings++ }

if ($mode eq 'list') {
    for my $path (@ARGV) {
        my ($funcs) = parse($path);
        printf "%s:%d: %s %d\n", $path, $_->{sig}, $_->{name} // '?', $_->{last} - $_->{sig} + 1
            for @$funcs;
    }
    exit 0;
}

if ($mode eq 'length') {
    my %exempt;    # "path:function" -> { line, reason, found (its length, once seen) }
    if (defined $exempt_file) {
        my @entries = read_list($exempt_file);
        if (@entries > 5) {
            finding("$exempt_file: " . scalar(@entries) . " exemptions, at most 5 are allowed"
                . " -- split functions until five or fewer remain listed");
        }
        for my $e (@entries) {
            if ($e->{text} =~ /^\s*(\S+?):(\w+)\s+--\s+(\S.*)$/) {
                $exempt{"$1:$2"} = { line => $e->{line}, reason => $3 };
            } else {
                finding("$exempt_file:$e->{line}: \"$e->{text}\" is not `path:function -- reason`"
                    . " -- write it so, with the reason the function cannot be split");
            }
        }
    }
    for my $path (@ARGV) {
        my ($funcs) = parse($path);
        for my $f (@$funcs) {
            my $name = $f->{name} // '?';
            my $len = $f->{last} - $f->{sig} + 1;
            my $e = $exempt{"$path:$name"};
            $e->{found} = $len if $e;
            next if $len <= $max || $e;
            finding("$path:$f->{sig}: $name() is $len lines (lines $f->{sig}-$f->{last}), over"
                . " the limit of $max -- split it into named steps, or list it in"
                . " ${\($exempt_file // 'the exemption list')} as `$path:$name -- reason`");
        }
    }
    for my $key (sort keys %exempt) {
        my $e = $exempt{$key};
        if (!defined $e->{found}) {
            finding("$exempt_file:$e->{line}: $key: no such function in the files checked"
                . " -- remove the entry (or fix its path or name)");
        } elsif ($e->{found} <= $max) {
            finding("$exempt_file:$e->{line}: $key is $e->{found} lines, not over $max any"
                . " more -- remove the entry");
        }
    }
    exit($findings ? 1 : 0);
}

# prefix
my %alias;    # path -> alias
if (defined $alias_file) {
    for my $e (read_list($alias_file)) {
        if ($e->{text} =~ /^\s*(\S+)\s+(\w+)\s+--\s+(\S.*)$/) {
            $alias{$1} = $2;
        } else {
            finding("$alias_file:$e->{line}: \"$e->{text}\" is not `path alias -- reason`"
                . " -- write it so");
        }
    }
}
my %seen_alias;
for my $path (@ARGV) {
    (my $base = $path) =~ s{.*/}{};
    $base =~ s/\.[ch]$//;
    my @prefixes = ($base, defined $alias{$path} ? ($alias{$path}) : ());
    my $prefix = $prefixes[-1];
    my $allowed = join('|', map {quotemeta} @prefixes);
    $seen_alias{$path} = 1;
    my ($funcs, $names) = parse($path);
    my %done;
    for my $n (@$names) {
        next if $n->{what} =~ /tag$/ && $path !~ /\.c$/;
        next if $n->{name} eq 'main' || $done{"$n->{what} $n->{name}"}++;
        next if $n->{name} =~ /^(?:$allowed)(?:_|$)/i;
        my $fix = lc($prefix) . '_' . ($n->{name} =~ s/^_+//r);
        $fix = uc($fix) if $n->{name} =~ /^[A-Z0-9_]+$/;
        finding("$path:$n->{line}: $n->{what} `$n->{name}` lacks the file's prefix "
            . join(' or ', map {"`${_}_`"} @prefixes)
            . " -- rename it (e.g. `$fix`)");
    }
}
for my $path (sort keys %alias) {
    finding("$alias_file: $path is not among the files checked -- remove its alias")
        unless $seen_alias{$path};
}
exit($findings ? 1 : 0);
