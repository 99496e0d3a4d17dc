"""Real PDF files for the loader and fetching tests, built with pypdf.
"""
from __future__ import annotations

import io


def pdf_bytes(lines: list[str], title: str | None = None, user_password: str | None = None,
              owner_password: str | None = None) -> bytes:
    """A real one-page PDF whose text is `lines`, built with pypdf, optionally encrypted."""
    from pypdf import PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, StreamObject

    writer = PdfWriter()
    page = writer.add_blank_page(612, 792)
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})})
    shown = " 0 -16 Td ".join(f"({line}) Tj" for line in lines)
    content = StreamObject()
    content.set_data(f"BT /F1 12 Tf 72 720 Td {shown} ET".encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(content)
    if title:
        writer.add_metadata({"/Title": title})
    if user_password is not None:
        writer.encrypt(user_password=user_password, owner_password=owner_password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
