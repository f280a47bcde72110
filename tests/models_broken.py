"""Models with a typo: the migrate commands' error for models that cannot be imported."""

import peewee as pw


class Item(pw.Model):
    """An item whose field has a misspelt type."""

    name = pw.CharFeld(max_length=50)
