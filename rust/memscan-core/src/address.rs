//! Address expressions, one grammar for every API that takes an address: absolute (`0x7f12ab`),
//! module-relative (`game+0x4140`, `libc.so.6+1d2000`, `"libstdc++.so.6"+0x10`), and pointer
//! paths in Cheat Engine's bracket form (`[[game+0x4140]+0x10]+0x8`: read a pointer, add an
//! offset, repeat), symbols (`libc.so.6!environ`, from `.symtab` or `.dynsym`), and signatures
//! that find code again after an update (`sig:game:48 8B 05 ?? ?? ?? ?? 89 58 10+7`: the one
//! place in module `game` where the byte pattern matches). Numbers are
//! hexadecimal, with or without `0x`, as in Cheat Engine; a module
//! whose name reads as a hex number is quoted.
//!
//! Expressions come from files and users (address lists, `.CT` tables, the shell), so they are
//! bounded: at most [`MAX_LEN`] characters and [`MAX_DEPTH`] nested brackets. Sums are flat lists,
//! so neither parsing, resolving nor dropping recurses deeper than the bracket nesting.

use std::fmt;

use crate::error::{Error, Result};
use crate::pattern::BytePattern;
use crate::process::Process;

/// The longest expression accepted, in characters (Cheat Engine's longest real pointer paths are
/// a few hundred).
pub const MAX_LEN: usize = 16 * 1024;
/// The deepest bracket nesting accepted: pointer levels within one expression.
pub const MAX_DEPTH: usize = 64;

/// `text` quoted for an error message, cut short when long.
fn shown(text: &str) -> String {
    const SHOWN: usize = 80;
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Number(u64),
    Module(String),
    /// `module!symbol`.
    Symbol(String, String),
    /// `sig:module:pattern`: where the pattern matches, once, in the module.
    Signature(String, BytePattern),
    /// The pointer stored at the inner address.
    Deref(Box<Expr>),
    /// The first term, then each further term added (`false`) or subtracted (`true`).
    Sum(Box<Expr>, Vec<(bool, Expr)>),
}

/// An address expression, kept to be resolved later (after a restart, in another process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    text: String,
    expr: Expr,
}

impl Address {
    /// Parses `text`; errors name the position and what was expected there.
    pub fn parse(text: &str) -> Result<Self> {
        let len = text.chars().count();
        if len > MAX_LEN {
            return Err(Error::invalid_argument(format!(
                "address expression of {len} characters: the limit is {MAX_LEN}"
            )));
        }
        let mut p = Parser {
            text,
            chars: text.char_indices().collect(),
            at: 0,
            depth: 0,
        };
        let expr = p.sum()?;
        p.skip_spaces();
        if p.at < p.chars.len() {
            return Err(p.error("an operator (+ or -) or the end"));
        }
        Ok(Self {
            text: text.trim().to_owned(),
            expr,
        })
    }

    /// Resolves the expression in `process` now: modules by their current load base, pointers
    /// read from memory (8 bytes, 4 in a 32-bit process).
    pub fn resolve(&self, process: &Process) -> Result<u64> {
        let regions = process.regions()?;
        let modules = crate::modules::modules(&regions);
        let ctx = Resolver {
            process,
            modules: &modules,
            pointer: crate::modules::pointer_width(process.memory(), &regions),
            text: &self.text,
        };
        ctx.eval(&self.expr).map(|(a, _)| a)
    }

    /// How many pointers the expression reads.
    pub fn depth(&self) -> usize {
        fn depth(e: &Expr) -> usize {
            match e {
                Expr::Number(_) | Expr::Module(_) | Expr::Symbol(..) | Expr::Signature(..) => 0,
                Expr::Deref(inner) => 1 + depth(inner),
                Expr::Sum(first, rest) => rest
                    .iter()
                    .map(|(_, e)| depth(e))
                    .fold(depth(first), usize::max),
            }
        }
        depth(&self.expr)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

struct Parser<'a> {
    text: &'a str,
    chars: Vec<(usize, char)>,
    at: usize,
    /// Brackets open at `at`.
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, expected: &str) -> Error {
        let pos = self.chars.get(self.at).map_or(self.text.len(), |c| c.0);
        Error::invalid_argument(format!(
            "bad address expression {}: expected {expected} at position {pos}",
            shown(self.text)
        ))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).map(|c| c.1)
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn sum(&mut self) -> Result<Expr> {
        let first = self.term()?;
        let mut rest = Vec::new();
        loop {
            self.skip_spaces();
            let negative = match self.peek() {
                Some('+') => false,
                Some('-') => true,
                _ if rest.is_empty() => return Ok(first),
                _ => return Ok(Expr::Sum(Box::new(first), rest)),
            };
            self.at += 1;
            rest.push((negative, self.term()?));
        }
    }

    fn at_signature(&self) -> bool {
        let rest: String = self.chars[self.at..].iter().take(4).map(|c| c.1).collect();
        rest.eq_ignore_ascii_case("sig:")
    }

    /// `sig:module:pattern` (the module may be quoted); the pattern runs to a `+`, `-`, `]` or
    /// the end.
    fn signature(&mut self) -> Result<Expr> {
        self.at += 4;
        let module = if self.peek() == Some('"') {
            match self.term()? {
                Expr::Module(name) => name,
                _ => return Err(self.error("a quoted module name")),
            }
        } else {
            // Up to the ':' (names such as `libstdc++.so.6` or `libfoo-1.2.so` hold + and -).
            let start = self.at;
            while self.peek().is_some_and(|c| c != ':' && !"[]\"".contains(c)) {
                self.at += 1;
            }
            self.chars[start..self.at]
                .iter()
                .map(|c| c.1)
                .collect::<String>()
        };
        if module.trim().is_empty() || self.peek() != Some(':') {
            return Err(self.error("sig:module:pattern (a module name, then ':')"));
        }
        self.at += 1;
        let start = self.at;
        while self.peek().is_some_and(|c| !"+-]".contains(c)) {
            self.at += 1;
        }
        let hex: String = self.chars[start..self.at].iter().map(|c| c.1).collect();
        let pattern = BytePattern::parse_hex(&hex).map_err(|e| {
            self.at = start;
            self.error(&format!("a byte pattern ({e})"))
        })?;
        Ok(Expr::Signature(module.trim().to_owned(), pattern))
    }

    fn term(&mut self) -> Result<Expr> {
        self.skip_spaces();
        match self.peek() {
            Some('[') => {
                if self.depth == MAX_DEPTH {
                    return Err(self.error(&format!(
                        "at most {MAX_DEPTH} nested '[' (pointer levels), not more"
                    )));
                }
                self.at += 1;
                self.depth += 1;
                let inner = self.sum()?;
                self.depth -= 1;
                self.skip_spaces();
                if self.peek() != Some(']') {
                    return Err(self.error("']'"));
                }
                self.at += 1;
                Ok(Expr::Deref(Box::new(inner)))
            }
            Some('"') => {
                self.at += 1;
                let start = self.at;
                while self.peek().is_some_and(|c| c != '"') {
                    self.at += 1;
                }
                if self.peek() != Some('"') {
                    return Err(self.error("a closing '\"'"));
                }
                let name: String = self.chars[start..self.at].iter().map(|c| c.1).collect();
                self.at += 1;
                if name.is_empty() {
                    return Err(self.error("a module name inside the quotes"));
                }
                Ok(Expr::Module(name))
            }
            _ if self.at_signature() => self.signature(),
            _ => {
                let start = self.at;
                while self
                    .peek()
                    .is_some_and(|c| !c.is_whitespace() && !"+-[]\"".contains(c))
                {
                    self.at += 1;
                }
                if start == self.at {
                    self.at = start;
                    return Err(self.error("a number, a module name or '['"));
                }
                let token: String = self.chars[start..self.at].iter().map(|c| c.1).collect();
                let digits = token
                    .strip_prefix("0x")
                    .or_else(|| token.strip_prefix("0X"))
                    .unwrap_or(&token);
                if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_hexdigit()) {
                    return u64::from_str_radix(digits, 16)
                        .map(Expr::Number)
                        .map_err(|_| {
                            self.at = start;
                            self.error("a number below 2**64")
                        });
                }
                if let Some((module, symbol)) = token.split_once('!') {
                    if module.is_empty() || symbol.is_empty() {
                        self.at = start;
                        return Err(self.error("module!symbol"));
                    }
                    return Ok(Expr::Symbol(module.to_owned(), symbol.to_owned()));
                }
                Ok(Expr::Module(token))
            }
        }
    }
}

struct Resolver<'a> {
    process: &'a Process,
    modules: &'a [crate::modules::Module],
    pointer: usize,
    text: &'a str,
}

impl Resolver<'_> {
    /// The value of `e` and the pointer level reached inside it.
    fn eval(&self, e: &Expr) -> Result<(u64, usize)> {
        match e {
            Expr::Number(n) => Ok((*n, 0)),
            Expr::Module(name) => self.module(name).map(|m| (m.module.base, 0)),
            Expr::Symbol(module, symbol) => {
                let m = self.module(module)?;
                let regions = self.process.regions()?;
                let file = self.process.module_file(&regions, &m.module)?;
                let offset = crate::modules::Symbols::parse(&file)
                    .offset(symbol)
                    .ok_or_else(|| {
                        Error::invalid_argument(format!(
                            "no symbol {symbol:?} in {module} (in {})",
                            shown(self.text)
                        ))
                    })?;
                Ok((m.module.base + offset, 0))
            }
            Expr::Signature(module, pattern) => {
                let m = self.module(module)?;
                let found = crate::code::find_signature(self.process, &m.module.path, pattern)?;
                match found[..] {
                    [one] => Ok((one, 0)),
                    _ => Err(Error::invalid_argument(format!(
                        "signature {pattern} matches {} places in {module}, not one (in {})",
                        found.len(),
                        shown(self.text)
                    ))),
                }
            }
            Expr::Sum(first, rest) => {
                let (mut x, mut level) = self.eval(first)?;
                for (negative, term) in rest {
                    let (y, l) = self.eval(term)?;
                    level = level.max(l);
                    let v = if *negative {
                        x.checked_sub(y)
                    } else {
                        x.checked_add(y)
                    };
                    x = v.ok_or_else(|| {
                        Error::invalid_value(format!(
                            "address expression {} leaves the address space ({x:#x} {} {y:#x})",
                            shown(self.text),
                            if *negative { "-" } else { "+" }
                        ))
                    })?;
                }
                Ok((x, level))
            }
            Expr::Deref(inner) => {
                let (at, below) = self.eval(inner)?;
                let level = below + 1;
                let unreadable = |why: String| Error::InvalidAddress {
                    pid: self.process.pid(),
                    addr: at,
                    len: self.pointer,
                    reason: format!("pointer level {level} of {}: {why}", shown(self.text)),
                };
                if at == 0 {
                    return Err(unreadable("null pointer".into()));
                }
                let bytes = self.process.read(at, self.pointer).map_err(|e| match e {
                    Error::InvalidAddress { .. } => unreadable("not readable".into()),
                    other => other,
                })?;
                let mut word = [0u8; 8];
                word[..self.pointer].copy_from_slice(&bytes);
                Ok((u64::from_le_bytes(word), level))
            }
        }
    }

    fn module(&self, name: &str) -> Result<&crate::modules::Module> {
        self.modules
            .iter()
            .find(|m| m.module.name() == name || &*m.module.path == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .modules
                    .iter()
                    .take(12)
                    .map(|m| m.module.name())
                    .collect();
                Error::invalid_argument(format!(
                    "unknown module {name:?} in {}; loaded: {}{}",
                    shown(self.text),
                    known.join(", "),
                    if self.modules.len() > known.len() {
                        ", ..."
                    } else {
                        ""
                    }
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms() {
        let a = Address::parse("[[game+0x4140]+10] + 8").unwrap();
        assert_eq!(a.depth(), 2);
        assert_eq!(a.to_string(), "[[game+0x4140]+10] + 8");
        assert_eq!(
            Address::parse("7fff0000").unwrap().expr,
            Expr::Number(0x7fff_0000)
        );
        assert_eq!(
            Address::parse("\"libstdc++.so.6\"+0x10").unwrap().expr,
            Expr::Sum(
                Box::new(Expr::Module("libstdc++.so.6".into())),
                vec![(false, Expr::Number(0x10))]
            )
        );
        assert_eq!(
            Address::parse("libc.so.6-1").unwrap().expr,
            Expr::Sum(
                Box::new(Expr::Module("libc.so.6".into())),
                vec![(true, Expr::Number(1))]
            )
        );
    }

    #[test]
    fn signatures_parse_with_any_module_name() {
        let a = Address::parse("sig:libfoo-1.2++.so:48 8B 4? ?? 10+7").unwrap();
        let Expr::Sum(first, rest) = &a.expr else {
            panic!("{a:?}")
        };
        let Expr::Signature(module, pattern) = &**first else {
            panic!("{a:?}")
        };
        assert_eq!(module, "libfoo-1.2++.so");
        assert_eq!(pattern.to_string(), "48 8B 4? ?? 10");
        assert_eq!(rest, &vec![(false, Expr::Number(7))]);
        let b = Address::parse("[sig:\"a:b\":C3]-1").unwrap();
        assert_eq!(b.depth(), 1);
        for bad in [
            "sig:game",
            "sig::C3",
            "sig:game:",
            "sig:game:XY",
            "sig:game:?? ??",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn malformed_expressions_are_errors_naming_the_place() {
        for bad in [
            "",
            "[game+1",
            "game+",
            "+1",
            "[]",
            "\"\"",
            "a b",
            "1]",
            "0x1ffffffffffffffff",
            "\"open",
        ] {
            let e = Address::parse(bad).unwrap_err().to_string();
            assert!(e.contains("address expression"), "{bad:?}: {e}");
        }
        assert_eq!(
            Address::parse("libc.so.6!environ").unwrap().expr,
            Expr::Symbol("libc.so.6".into(), "environ".into())
        );
        for bad in ["libc.so.6!", "!environ"] {
            assert!(Address::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn deep_and_long_expressions_are_refused_by_name_not_by_a_crash() {
        let deep = |n: usize| format!("{}0{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(Address::parse(&deep(MAX_DEPTH)).unwrap().depth(), MAX_DEPTH);
        for text in [deep(MAX_DEPTH + 1), deep(50_000)] {
            let e = Address::parse(&text).unwrap_err().to_string();
            assert!(e.contains("nested") || e.contains("limit"), "{e}");
        }
        let terms = |n: usize| vec!["1"; n].join("+");
        let sum = Address::parse(&terms(MAX_LEN / 2)).unwrap();
        assert_eq!(sum.depth(), 0);
        let e = Address::parse(&terms(1_000_000)).unwrap_err().to_string();
        assert!(e.contains(&format!("limit is {MAX_LEN}")), "{e}");
    }
}
