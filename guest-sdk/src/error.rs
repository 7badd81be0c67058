//! [`Error`], the error type of scenario code: an anyhow-like message with an
//! optional cause chain, plus [`Context`], [`fail`], [`bail!`](crate::bail)
//! and [`ensure!`](crate::ensure).
//!
//! `?` converts [`HttpError`](crate::HttpError), `serde_json::Error`,
//! `String`, `&str` and common std errors into it. The runner receives an
//! error as its whole chain on one line, `"outer: inner: root"`.

use std::error::Error as StdError;
use std::fmt;

/// `Result` with the SDK's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// An error from scenario code (like `anyhow::Error`).
///
/// `{}` shows the outermost message, `{:#}` the whole chain joined by `": "`,
/// `{:?}` the chain on separate lines.
pub struct Error {
    repr: Box<Repr>,
}

enum Repr {
    /// A message, optionally caused by another error.
    Message {
        message: String,
        source: Option<BoxError>,
    },
    /// Another error, shown as itself.
    Wrapped(BoxError),
    /// `run` was given a flow the scenario does not know.
    UnknownFlow(String),
}

impl Error {
    /// An error with just a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::from_repr(Repr::Message {
            message: message.to_string(),
            source: None,
        })
    }

    /// Wraps any std error, keeping it as the source of the chain.
    pub fn new<E: StdError + Send + Sync + 'static>(error: E) -> Self {
        Self::from_repr(Repr::Wrapped(Box::new(error)))
    }

    /// The answer to a flow name that [`Scenario::run`](crate::Scenario::run)
    /// does not handle: `Err(Error::unknown_flow(flow))` becomes
    /// `unknown flow "name"` in the runner.
    pub fn unknown_flow(flow: impl Into<String>) -> Self {
        Self::from_repr(Repr::UnknownFlow(flow.into()))
    }

    /// The flow name if this is an [`Error::unknown_flow`] error.
    pub fn as_unknown_flow(&self) -> Option<&str> {
        match &*self.repr {
            Repr::UnknownFlow(flow) => Some(flow),
            _ => None,
        }
    }

    /// Wraps this error in an outer message: `"{context}: {self}"`.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self::from_repr(Repr::Message {
            message: context.to_string(),
            source: Some(Box::new(self)),
        })
    }

    /// The errors of the chain, outermost first.
    pub fn chain(&self) -> impl Iterator<Item = &(dyn StdError + 'static)> {
        let first: &(dyn StdError + 'static) = self;
        std::iter::successors(Some(first), |&e| e.source())
    }

    /// The innermost error of the chain.
    pub fn root_cause(&self) -> &(dyn StdError + 'static) {
        self.chain().last().unwrap_or(self)
    }

    /// The first error of the chain that is an `E`, e.g. an
    /// [`HttpError`](crate::HttpError).
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.chain().find_map(|e| {
            e.downcast_ref::<E>()
                .or_else(|| match e.downcast_ref::<Error>() {
                    Some(Error { repr }) => match &**repr {
                        Repr::Wrapped(inner) => inner.downcast_ref::<E>(),
                        _ => None,
                    },
                    None => None,
                })
        })
    }

    /// The whole chain on one line, as the runner receives it.
    pub fn to_chain_string(&self) -> String {
        format!("{self:#}")
    }

    fn from_repr(repr: Repr) -> Self {
        Self {
            repr: Box::new(repr),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.repr {
            Repr::Message { message, .. } => f.write_str(message)?,
            Repr::Wrapped(error) => fmt::Display::fmt(error, f)?,
            Repr::UnknownFlow(flow) => write!(f, "unknown flow {flow:?}")?,
        }
        if f.alternate() {
            // Each link's plain `{}` shows only its own message.
            for cause in self.chain().skip(1) {
                write!(f, ": {cause}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let causes: Vec<String> = self.chain().skip(1).map(|e| e.to_string()).collect();
        if !causes.is_empty() {
            f.write_str("\n\nCaused by:")?;
            for cause in causes {
                write!(f, "\n    {cause}")?;
            }
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &*self.repr {
            Repr::Message { source, .. } => source.as_deref().map(|e| e as _),
            Repr::Wrapped(error) => error.source(),
            Repr::UnknownFlow(_) => None,
        }
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self::msg(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Self::msg(message)
    }
}

impl From<BoxError> for Error {
    fn from(error: BoxError) -> Self {
        Self::from_repr(Repr::Wrapped(error))
    }
}

macro_rules! from_std_errors {
    ($($ty:ty),* $(,)?) => {
        $(
            impl From<$ty> for Error {
                fn from(error: $ty) -> Self {
                    Self::new(error)
                }
            }
        )*
    };
}

from_std_errors!(
    crate::http::HttpError,
    serde_json::Error,
    std::io::Error,
    std::fmt::Error,
    std::num::ParseIntError,
    std::num::ParseFloatError,
    std::num::TryFromIntError,
    std::str::ParseBoolError,
    std::str::Utf8Error,
    std::string::FromUtf8Error,
);

/// Adds a message in front of an error, like anyhow's `Context`:
/// `login().context("logging in")?`.
pub trait Context<T> {
    /// Wraps the error (or `None`) in `context`.
    fn context<C: fmt::Display>(self, context: C) -> Result<T>;

    /// Like [`Context::context`], building the message only on error.
    fn with_context<C: fmt::Display, F: FnOnce() -> C>(self, f: F) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context<C: fmt::Display>(self, context: C) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }

    fn with_context<C: fmt::Display, F: FnOnce() -> C>(self, f: F) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

impl<T> Context<T> for Option<T> {
    fn context<C: fmt::Display>(self, context: C) -> Result<T> {
        self.ok_or_else(|| Error::msg(context))
    }

    fn with_context<C: fmt::Display, F: FnOnce() -> C>(self, f: F) -> Result<T> {
        self.ok_or_else(|| Error::msg(f()))
    }
}

/// `Err(Error::msg(message))`: `return fail("no tasks")`.
pub fn fail<T>(message: impl fmt::Display) -> Result<T> {
    Err(Error::msg(message))
}

/// Returns early with an [`Error`]: `bail!("got {} tasks", n)`.
#[macro_export]
macro_rules! bail {
    ($msg:literal $(,)?) => {
        return ::core::result::Result::Err($crate::Error::msg(::std::format!($msg)))
    };
    ($err:expr $(,)?) => {
        return ::core::result::Result::Err($crate::Error::msg($err))
    };
    ($fmt:expr, $($arg:tt)*) => {
        return ::core::result::Result::Err($crate::Error::msg(::std::format!($fmt, $($arg)*)))
    };
}

/// Returns early with an [`Error`] unless a condition holds:
/// `ensure!(tasks.len() == 20, "got {} tasks", tasks.len())`.
#[macro_export]
macro_rules! ensure {
    ($cond:expr $(,)?) => {
        if !$cond {
            $crate::bail!(::core::concat!("condition failed: ", ::core::stringify!($cond)));
        }
    };
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            $crate::bail!($($arg)+);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_is_joined_with_colons() {
        let root: std::result::Result<u32, _> = "x".parse::<u32>();
        let err = root
            .context("reading count")
            .context("logging in")
            .unwrap_err();
        assert_eq!(err.to_string(), "logging in");
        assert_eq!(
            err.to_chain_string(),
            "logging in: reading count: invalid digit found in string"
        );
        assert!(err.downcast_ref::<std::num::ParseIntError>().is_some());
        assert_eq!(
            err.root_cause().to_string(),
            "invalid digit found in string"
        );
    }

    #[test]
    fn messages_and_unknown_flows() {
        let err: Error = "boom".into();
        assert_eq!(err.to_chain_string(), "boom");
        let err = Error::unknown_flow("nope");
        assert_eq!(err.to_chain_string(), "unknown flow \"nope\"");
        assert_eq!(err.as_unknown_flow(), Some("nope"));
        let err = Error::unknown_flow("nope").context("run");
        assert_eq!(err.to_chain_string(), "run: unknown flow \"nope\"");
    }

    #[test]
    fn macros_return_errors() {
        fn f(n: u32) -> Result<u32> {
            crate::ensure!(n > 1, "n is {n}");
            if n > 5 {
                crate::bail!("too big: {}", n);
            }
            if n == 4 {
                crate::bail!(String::from("four"));
            }
            Ok(n)
        }
        assert_eq!(f(0).unwrap_err().to_string(), "n is 0");
        assert_eq!(f(6).unwrap_err().to_string(), "too big: 6");
        assert_eq!(f(4).unwrap_err().to_string(), "four");
        assert_eq!(f(3).unwrap(), 3);
        let none: Option<u8> = None;
        assert_eq!(none.context("missing").unwrap_err().to_string(), "missing");
    }
}
