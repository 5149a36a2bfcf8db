"""The identity graph as a person sees it: which part to draw (focus), how it looks (style),
where each node sits (layout), what it says on hover (tooltips), the page (html) and a
picture of it (png). Large graphs are folded first (aggregate), saying what was left out.
"""
