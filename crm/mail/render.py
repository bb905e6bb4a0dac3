"""Rendering mail: Jinja fills an MJML template, mjml-python (MRML) compiles it to HTML."""
from flask import render_template
from mjml import mjml2html


class MJMLError(RuntimeError):
    """The MJML source could not be compiled."""


def compile_mjml(source: str) -> str:
    try:
        return mjml2html(source)
    except Exception as exc:  # MRML raises its own error types through the binding
        raise MJMLError(str(exc)) from exc


def render_mail(template: str, **context) -> tuple[str, str]:
    """(html, text) for templates/email/<template>.mjml and .txt, both filled with `context`."""
    html = compile_mjml(render_template(f"email/{template}.mjml", **context))
    text = render_template(f"email/{template}.txt", **context)
    return html, text
