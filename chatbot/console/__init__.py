"""The staff and admin consoles: server-rendered HTML pages (the JSON API is chatbot/api/).

Files are named after the URLs they serve; each area's router is guarded as a whole: ``staff/``
for any signed-in person, ``admin/`` for admins, ``account`` for its owner; signing in is open.
"""
