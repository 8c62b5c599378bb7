//! `#[win_abi]`: `extern "system"` that means the Windows x64 calling convention on every
//! x86_64 build, not only on Windows.
//!
//! On Windows `extern "system"` is that convention already. On Linux it is System V's, so a
//! host-built COM object could not be called by a real `.sys` loaded into the process, nor call
//! it. Rust's `extern "win64"` is the Windows convention on any x86_64 target; this attribute
//! rewrites every `extern "system"` inside the item it decorates (a function, a type alias, a
//! struct of function pointers, an impl block) to `extern "win64"` for x86_64 targets other than
//! Windows, and leaves the item as written everywhere else, so that the Windows build (and its
//! proof against the headers) is unchanged. No dependencies: a token walk, nothing more.

use proc_macro::{Delimiter, Group, Ident, Literal, Spacing, Span, TokenStream, TokenTree};

/// See the crate documentation.
#[proc_macro_attribute]
pub fn win_abi(attr: TokenStream, item: TokenStream) -> TokenStream {
    if let Some(extra) = attr.into_iter().next() {
        return compile_error(extra.span(), "#[win_abi] takes no arguments");
    }
    let mut out = TokenStream::new();
    out.extend(cfg_attr(false));
    out.extend(item.clone());
    out.extend(cfg_attr(true));
    out.extend(rewrite(item));
    out
}

/// `#[cfg(all(target_arch = "x86_64", not(target_os = "windows")))]`, or its negation.
fn cfg_attr(win64: bool) -> TokenStream {
    let condition = r#"all(target_arch = "x86_64", not(target_os = "windows"))"#;
    let text = if win64 {
        format!("#[cfg({condition})]")
    } else {
        format!("#[cfg(not({condition}))]")
    };
    text.parse().expect("a fixed, valid attribute")
}

/// Every `extern "system"` in `stream`, at any depth, becomes `extern "win64"`.
fn rewrite(stream: TokenStream) -> TokenStream {
    let mut out = Vec::new();
    let mut after_extern = false;
    for tree in stream {
        let next = match tree {
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), rewrite(g.stream()));
                group.set_span(g.span());
                TokenTree::Group(group)
            }
            TokenTree::Literal(lit) if after_extern && lit.to_string() == "\"system\"" => {
                let mut win64 = Literal::string("win64");
                win64.set_span(lit.span());
                TokenTree::Literal(win64)
            }
            other => other,
        };
        after_extern = matches!(&next, TokenTree::Ident(i) if i.to_string() == "extern");
        out.push(next);
    }
    out.into_iter().collect()
}

fn compile_error(span: Span, message: &str) -> TokenStream {
    let mut args = TokenStream::new();
    args.extend([TokenTree::Literal(Literal::string(message))]);
    let mut out = TokenStream::new();
    out.extend([
        TokenTree::Ident(Ident::new("compile_error", span)),
        TokenTree::Punct(proc_macro::Punct::new('!', Spacing::Alone)),
        TokenTree::Group(Group::new(Delimiter::Parenthesis, args)),
        TokenTree::Punct(proc_macro::Punct::new(';', Spacing::Alone)),
    ]);
    out
}
