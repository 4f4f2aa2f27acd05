//! Turn a state type and its impl block into a fat contract: `#[fat_sdk::contract]`.
//!
//! Use it through `fat_sdk`, whose crate documentation describes the contract model; this
//! crate only rewrites syntax and leaves the work to `fat_sdk::__private`.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    Attribute, Error, FnArg, ImplItem, ImplItemFn, Item, ItemImpl, Pat, ReturnType, Type,
    parse_macro_input, parse_quote,
};

/// Make a type the contract state, or an impl block its methods.
///
/// On the state type (a struct or enum deriving `Serialize`, `Deserialize` and `Default`) it
/// points serde's derives at the SDK's copy of serde, so the contract needs no serde
/// dependency of its own (put `#[contract]` above the `#[derive]`). On the type's impl block it exports the methods marked
/// `#[init]`, `#[command]`, `#[query]` and `#[job]`; other methods stay ordinary methods.
#[proc_macro_attribute]
pub fn contract(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        let attr = TokenStream2::from(attr);
        return Error::new(attr.span(), "#[contract] takes no arguments")
            .to_compile_error()
            .into();
    }
    let item = parse_macro_input!(item as Item);
    let expanded = match item {
        Item::Struct(mut item) => {
            add_serde_crate(&mut item.attrs);
            Ok(quote!(#item))
        }
        Item::Enum(mut item) => {
            add_serde_crate(&mut item.attrs);
            Ok(quote!(#item))
        }
        Item::Impl(item) => expand_impl(item),
        other => Err(Error::new(
            other.span(),
            "#[contract] goes on the state type and on its impl block",
        )),
    };
    expanded.unwrap_or_else(Error::into_compile_error).into()
}

/// Add `#[serde(crate = "::fat_sdk::serde")]` when serde derives are present and no crate is set.
fn add_serde_crate(attrs: &mut Vec<Attribute>) {
    let derives_serde = attrs.iter().any(|attr| {
        attr.path().is_ident("derive") && {
            let tokens = attr.meta.to_token_stream_string();
            tokens.contains("Serialize") || tokens.contains("Deserialize")
        }
    });
    let has_crate = attrs.iter().any(|attr| {
        attr.path().is_ident("serde") && attr.meta.to_token_stream_string().contains("crate")
    });
    if derives_serde && !has_crate {
        attrs.push(parse_quote!(#[serde(crate = "::fat_sdk::serde")]));
    }
}

trait TokensToString {
    fn to_token_stream_string(&self) -> String;
}

impl<T: quote::ToTokens> TokensToString for T {
    fn to_token_stream_string(&self) -> String {
        self.to_token_stream().to_string()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Init,
    Command,
    Query,
    Job,
}

impl Kind {
    fn of(attr: &Attribute) -> Option<Self> {
        let path = attr.path();
        [
            ("init", Kind::Init),
            ("command", Kind::Command),
            ("query", Kind::Query),
            ("job", Kind::Job),
        ]
        .into_iter()
        .find_map(|(name, kind)| path.is_ident(name).then_some(kind))
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Init => "init",
            Kind::Command => "command",
            Kind::Query => "query",
            Kind::Job => "job",
        }
    }
}

/// One exported method.
struct Method {
    kind: Kind,
    ident: syn::Ident,
    /// Named parameters (not the receiver), as (name, type).
    params: Vec<(syn::Ident, Type)>,
    returns_result: bool,
    span: Span,
}

fn expand_impl(mut item: ItemImpl) -> syn::Result<TokenStream2> {
    if let Some((_, path, _)) = &item.trait_ {
        return Err(Error::new(
            path.span(),
            "#[contract] goes on the state type's inherent impl block",
        ));
    }
    if !item.generics.params.is_empty() {
        return Err(Error::new(
            item.generics.span(),
            "a contract state type cannot be generic",
        ));
    }
    let mut methods = Vec::new();
    let mut errors: Option<Error> = None;
    for impl_item in &mut item.items {
        let ImplItem::Fn(function) = impl_item else {
            continue;
        };
        match take_kind(function)
            .and_then(|kind| kind.map(|kind| method(kind, function)).transpose())
        {
            Ok(Some(method)) => methods.push(method),
            Ok(None) => {}
            Err(error) => match &mut errors {
                Some(errors) => errors.combine(error),
                None => errors = Some(error),
            },
        }
    }
    let inits: Vec<&Method> = methods.iter().filter(|m| m.kind == Kind::Init).collect();
    if let [_, second, ..] = inits.as_slice() {
        let error = Error::new(second.span, "a contract has at most one #[init]");
        match &mut errors {
            Some(errors) => errors.combine(error),
            None => errors = Some(error),
        }
    }
    if let Some(errors) = errors {
        return Err(errors);
    }

    let state = &item.self_ty;
    let init = match inits.first() {
        Some(method) => {
            let call = call(method, quote!(Self::));
            let wrap = if method.returns_result {
                quote!(init_result)
            } else {
                quote!(init_value)
            };
            quote!(::fat_sdk::__private::#wrap(#call))
        }
        None => quote! {{
            ::fat_sdk::__private::Args::parse("init", args, &[])?;
            ::core::result::Result::Ok(<Self as ::core::default::Default>::default())
        }},
    };
    let command = dispatch(&methods, Kind::Command);
    let query = dispatch(&methods, Kind::Query);
    let job = dispatch(&methods, Kind::Job);

    Ok(quote! {
        #item

        #[doc(hidden)]
        #[allow(clippy::all, unused_mut)]
        impl ::fat_sdk::__private::Contract for #state {
            fn init(args: &str) -> ::core::result::Result<Self, ::std::string::String> {
                #init
            }
            fn command(&mut self, method: &str, args: &str) -> ::core::result::Result<::std::string::String, ::std::string::String> {
                #command
            }
            fn query(&self, method: &str, args: &str) -> ::core::result::Result<::std::string::String, ::std::string::String> {
                #query
            }
            fn job(&self, name: &str, input: ::std::vec::Vec<u8>) -> ::core::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                #job
            }
        }

        ::fat_sdk::__export_contract!(#state);
    })
}

/// Remove the method's kind attribute and return its kind; refuse duplicates and arguments.
fn take_kind(function: &mut ImplItemFn) -> syn::Result<Option<Kind>> {
    let mut kind = None;
    let mut kept = Vec::new();
    for attr in function.attrs.drain(..) {
        match Kind::of(&attr) {
            Some(found) => {
                if !matches!(attr.meta, syn::Meta::Path(_)) {
                    return Err(Error::new(
                        attr.span(),
                        format!("#[{}] takes no arguments", found.name()),
                    ));
                }
                if kind.replace(found).is_some() {
                    return Err(Error::new(
                        attr.span(),
                        "a method has at most one of #[init], #[command], #[query], #[job]",
                    ));
                }
            }
            None => kept.push(attr),
        }
    }
    function.attrs = kept;
    Ok(kind)
}

fn method(kind: Kind, function: &ImplItemFn) -> syn::Result<Method> {
    let sig = &function.sig;
    if sig.asyncness.is_some() || !sig.generics.params.is_empty() {
        return Err(Error::new(
            sig.span(),
            "exported methods cannot be async or generic",
        ));
    }
    let mut inputs = sig.inputs.iter().peekable();
    let receiver = match inputs.peek() {
        Some(FnArg::Receiver(receiver)) => {
            let receiver = receiver.clone();
            inputs.next();
            Some(receiver)
        }
        _ => None,
    };
    let expected = match kind {
        Kind::Init => {
            "an associated function without `self`, returning `Self` or `Result<Self, E>`"
        }
        Kind::Command => "`&mut self`",
        Kind::Query | Kind::Job => "`&self`",
    };
    let receiver_ok = match (&kind, &receiver) {
        (Kind::Init, None) => true,
        (Kind::Command, Some(r)) => r.reference.is_some(),
        (Kind::Query | Kind::Job, Some(r)) => r.reference.is_some() && r.mutability.is_none(),
        _ => false,
    };
    if !receiver_ok {
        let span = receiver.as_ref().map_or(sig.ident.span(), Spanned::span);
        let why = match kind {
            Kind::Query | Kind::Job => "; queries and jobs cannot change the state",
            _ => "",
        };
        return Err(Error::new(
            span,
            format!("a #[{}] method takes {expected}{why}", kind.name()),
        ));
    }
    let mut params = Vec::new();
    for input in inputs {
        let FnArg::Typed(typed) = input else {
            unreachable!("the receiver comes first")
        };
        let Pat::Ident(pat) = &*typed.pat else {
            return Err(Error::new(
                typed.pat.span(),
                "exported method parameters must be plain names: they are the JSON argument fields",
            ));
        };
        if let Type::Reference(reference) = &*typed.ty
            && kind != Kind::Job
        {
            return Err(Error::new(
                reference.span(),
                "parameters are decoded from JSON: use an owned type (`String`, not `&str`)",
            ));
        }
        params.push((pat.ident.clone(), (*typed.ty).clone()));
    }
    if kind == Kind::Job && params.len() != 1 {
        return Err(Error::new(
            sig.span(),
            "a #[job] method takes `&self` and the input bytes (`Vec<u8>` or `&[u8]`)",
        ));
    }
    let returns_result = match &sig.output {
        ReturnType::Type(_, ty) => is_result(ty),
        ReturnType::Default => false,
    };
    Ok(Method {
        kind,
        ident: sig.ident.clone(),
        params,
        returns_result,
        span: sig.span(),
    })
}

/// Whether a type is spelled `Result<..>` (any path ending in `Result`).
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "Result")
        }
        Type::Paren(inner) => is_result(&inner.elem),
        Type::Group(inner) => is_result(&inner.elem),
        _ => false,
    }
}

/// Decode the arguments and call the method; `receiver` is `self.` or `Self::`.
fn call(method: &Method, receiver: TokenStream2) -> TokenStream2 {
    let ident = &method.ident;
    let name = ident.to_string();
    let names: Vec<String> = method
        .params
        .iter()
        .map(|(param, _)| param.to_string())
        .collect();
    let vars: Vec<syn::Ident> = method
        .params
        .iter()
        .map(|(param, _)| format_ident!("__arg_{}", param))
        .collect();
    let takes = method.params.iter().zip(&vars).map(|((param, ty), var)| {
        let field = param.to_string();
        quote_spanned!(ty.span()=> let #var: #ty = __args.take(#field)?;)
    });
    quote! {{
        let mut __args = ::fat_sdk::__private::Args::parse(#name, args, &[#(#names),*])?;
        #(#takes)*
        #receiver #ident(#(#vars),*)
    }}
}

/// The `match` over one kind's methods.
fn dispatch(methods: &[Method], kind: Kind) -> TokenStream2 {
    let of_kind: Vec<&Method> = methods.iter().filter(|m| m.kind == kind).collect();
    if kind == Kind::Job {
        if of_kind.is_empty() {
            return quote! {
                let _ = input;
                ::core::result::Result::Err(::fat_sdk::__private::no_job(name))
            };
        }
        let arms = of_kind.iter().map(|method| {
            let ident = &method.ident;
            let name = ident.to_string();
            let input = match &method.params[0].1 {
                Type::Reference(_) => quote!(&input),
                _ => quote!(input),
            };
            let wrap = if method.returns_result {
                quote!(job_result)
            } else {
                quote!(job_value)
            };
            quote!(#name => ::fat_sdk::__private::#wrap(self.#ident(#input)),)
        });
        return quote! {
            match name {
                #(#arms)*
                _ => ::core::result::Result::Err(::fat_sdk::__private::unknown("job", name)),
            }
        };
    }
    let arms = of_kind.iter().map(|method| {
        let name = method.ident.to_string();
        let call = call(method, quote!(self.));
        let wrap = if method.returns_result {
            quote!(output_result)
        } else {
            quote!(output)
        };
        quote!(#name => ::fat_sdk::__private::#wrap(#name, #call),)
    });
    let kind_name = kind.name();
    quote! {
        match method {
            #(#arms)*
            _ => {
                let _ = args;
                ::core::result::Result::Err(::fat_sdk::__private::unknown(#kind_name, method))
            }
        }
    }
}
