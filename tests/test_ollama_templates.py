"""Chat templates: for each supported family the Go TEMPLATE the studio writes, fed a chat the way
Ollama feeds it, gives exactly the text transformers renders from the family's Jinja chat_template
(minus the BOS the tokenizer adds itself). Plus Modelfile round trips and Ollama's name rules."""
from __future__ import annotations

import pytest
from transformers.utils.chat_template_utils import render_jinja_template

from studio.ollama import modelfile
from studio.ollama.gguf_chat import ChatMetadata, read_chat_metadata
from studio.ollama.gotemplate import GoTemplateError, chat_prompt, render
from studio.ollama.importer import plan_import
from studio.ollama.names import InvalidModelName, canonical, validate_model_name
from studio.ollama.templates import chat_setup
from tests.models import smollm2_gguf

# The published chat templates of each family (tokenizer_config.json), verbatim.
QWEN2 = (r"{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
         r"{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
         r"{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
         r"{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
CHATML = (r"{% for message in messages %}"
          r"{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
          r"{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
LLAMA3 = (r"{% set loop_messages = messages %}{% for message in loop_messages %}"
          r"{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
          r"+ message['content'] | trim + '<|eot_id|>' %}"
          r"{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
          r"{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
MISTRAL = (r"{{ bos_token }}{% for message in messages %}"
           r"{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
           r"{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
           r"{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
           r"{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}"
           r"{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}")
GEMMA = (r"{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
         r"{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
         r"{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
         r"{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
         r"{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
         r"{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}")
PHI3 = (r"{% for message in messages %}{% if message['role'] == 'system' %}"
        r"{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}"
        r"{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}"
        r"{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}"
        r"{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}")
LLAMA2 = (r"{% for message in messages %}{% if message['role'] == 'system' %}"
          r"{{ '<<SYS>>\n' + message['content'] + '\n<</SYS>>\n\n' }}{% elif message['role'] == 'user' %}"
          r"{{ bos_token + '[INST] ' + message['content'] + ' [/INST]' }}{% endif %}{% endfor %}")


def meta(template, bos, eos, add_bos, eot=None) -> ChatMetadata:
    return ChatMetadata("test", "Q4_K_M", template, bos, eos, eot, add_bos)


# family name, GGUF metadata, whether the family's template accepts a system message
CASES = {
    "qwen2": ("chatml", meta(QWEN2, None, "<|im_end|>", False), True),
    "chatml": ("chatml", meta(CHATML, None, "<|im_end|>", False), True),
    "llama3": ("llama3", meta(LLAMA3, "<|begin_of_text|>", "<|eot_id|>", True), True),
    "mistral": ("mistral", meta(MISTRAL, "<s>", "</s>", True), False),
    "gemma": ("gemma", meta(GEMMA, "<bos>", "<eos>", True, eot="<end_of_turn>"), False),
    "phi3": ("phi3", meta(PHI3, "<s>", "<|endoftext|>", False, eot="<|end|>"), True),
}
TWO_TURNS = [{"role": "user", "content": "Hi there, who are you?"},
             {"role": "assistant", "content": "I'm a small assistant."},
             {"role": "user", "content": "Name a colour of the sky."}]
SYSTEM = {"role": "system", "content": "Answer in five words or fewer."}


def jinja(m: ChatMetadata, messages: list[dict]) -> str:
    rendered, _ = render_jinja_template(conversations=[messages], chat_template=m.chat_template,
                                        add_generation_prompt=True, bos_token=m.bos_token or "",
                                        eos_token=m.eos_token or "")
    return rendered[0]


def as_ollama_sees_it(jinja_text: str, m: ChatMetadata) -> str:
    """Ollama's runner tokenizes with the vocabulary's BOS added, so the TEMPLATE must not repeat it."""
    return jinja_text.removeprefix(m.bos_token) if m.add_bos and m.bos_token else jinja_text


@pytest.mark.parametrize("case", sorted(CASES))
def test_go_template_renders_a_two_turn_chat_exactly_like_the_jinja_template(case):
    family, m, has_system = CASES[case]
    setup = chat_setup(m)
    assert setup.family == family
    assert setup.warnings == ()
    chats = [TWO_TURNS, [SYSTEM, *TWO_TURNS]] if has_system else [TWO_TURNS]
    for chat in chats:
        expected = as_ollama_sees_it(jinja(m, chat), m)
        assert chat_prompt(setup.template, chat, setup.system or "") == expected
    print(f"{case}: {setup.template!r} stops={setup.stops} system={setup.system!r}")


def test_stop_tokens_cover_the_end_of_turn_tokens():
    assert chat_setup(CASES["llama3"][1]).stops == ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")
    assert "<end_of_turn>" in chat_setup(CASES["gemma"][1]).stops
    assert chat_setup(CASES["phi3"][1]).stops[:3] == ("<|end|>", "<|user|>", "<|assistant|>")
    assert "</s>" not in chat_setup(CASES["mistral"][1]).template.split("[INST]")[0]


def test_smollm2_gguf_gets_chatml_with_its_default_system_prompt_token_for_token():
    """The real SmolLM2 GGUF: metadata read with GGUFReader, compared on the model's own token ids."""
    from llama_cpp import Llama

    path = smollm2_gguf()
    m = read_chat_metadata(path)
    assert (m.bos_token, m.eos_token, m.add_bos) == ("<|im_start|>", "<|im_end|>", False)
    setup = chat_setup(m)
    assert setup.family == "chatml" and setup.warnings == ()
    assert setup.system == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    assert setup.stops == ("<|im_start|>", "<|im_end|>")
    llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
    for chat in (TWO_TURNS, [SYSTEM, *TWO_TURNS]):
        hf_ids = llm.tokenize(jinja(m, chat).encode(), add_bos=False, special=True)
        ollama_ids = llm.tokenize(chat_prompt(setup.template, chat, setup.system).encode(), add_bos=True, special=True)
        assert ollama_ids == hf_ids


def test_unknown_and_llama2_templates_are_left_to_the_user_with_a_reason():
    for template, reason in ((LLAMA2, "Llama-2"), ("{{ messages }}", "not one the studio knows"),
                             (None, "no tokenizer.chat_template")):
        setup = chat_setup(meta(template, "<s>", "</s>", True))
        assert setup.family is None and setup.template is None
        assert reason in setup.warnings[0]
        text = modelfile.render("./m.gguf", setup, ["header"])
        assert "# WARNING:" in text and "\nTEMPLATE" not in text


def test_an_import_without_template_is_refused_before_anything_is_sent(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(modelfile.ModelfileError, match="no TEMPLATE.*gibberish"):
        plan_import(gguf, "m:latest", "FROM ./m.gguf\nPARAMETER stop \"</s>\"\n")
    with pytest.raises(modelfile.ModelfileError, match="FROM must stay ./m.gguf"):
        plan_import(gguf, "m:latest", 'FROM ./other.gguf\nTEMPLATE """{{ .Prompt }}"""\n')


def test_modelfile_round_trip_keeps_template_system_and_parameters():
    setup = chat_setup(CASES["qwen2"][1])
    text = modelfile.render("./q.gguf", setup, ["made for a test"])
    text += "PARAMETER temperature 0.2\nPARAMETER num_ctx 4096\n"
    parsed = modelfile.parse(text)
    assert (parsed.from_, parsed.template, parsed.system) == ("./q.gguf", setup.template,
                                                              "You are a helpful assistant.")
    assert parsed.parameters == {"stop": ["<|im_start|>", "<|im_end|>"], "temperature": 0.2, "num_ctx": 4096}
    with pytest.raises(modelfile.ModelfileError, match="line 2: unknown PARAMETER 'temprature'"):
        modelfile.parse("FROM ./q.gguf\nPARAMETER temprature 0.2\n")
    with pytest.raises(modelfile.ModelfileError, match="ADAPTER is not supported"):
        modelfile.parse("FROM ./q.gguf\nADAPTER ./lora.gguf\n")


def test_go_template_subset_follows_go_semantics():
    data = {"Messages": [{"Role": "user", "Content": "a"}, {"Role": "assistant", "Content": "b"}], "System": ""}
    assert render("{{- range $i, $m := .Messages }}{{ $i }}:{{ $m.Role }} {{ end -}}\n!",
                  data) == "0:user 1:assistant !"
    assert render('{{ if eq (len .Messages) 2 }}two{{ else if .System }}sys{{ else }}none{{ end }}', data) == "two"
    assert render('{{ $last := index .Messages 1 }}{{ $last.Content }}|{{ or .System "default" }}', data) == "b|default"
    assert render("{{ range .Nothing }}x{{ else }}empty{{ end }}", data) == "empty"
    with pytest.raises(GoTemplateError, match="missing"):
        render("{{ if .System }}x", data)
    with pytest.raises(GoTemplateError, match='function "upper" not defined'):
        render("{{ upper .System }}", data)


@pytest.mark.parametrize("name", ["smollm2", "smollm2:q4_k_m", "me/smollm2:Q4_K_M", "host.local:11434/me/smollm2:v1.0"])
def test_valid_ollama_names(name):
    assert validate_model_name(name) == name


@pytest.mark.parametrize("name, why", [("", "enter a model name"), ("my model", "may only hold"),
                                       ("-smol", "may only hold"), ("smol:", "is empty"),
                                       ("a.b/smol", "namespace 'a.b'"), ("x" * 81, "longer than 80"),
                                       ("a/b/c/d", "at most host/namespace/model:tag")])
def test_invalid_ollama_names_say_why(name, why):
    with pytest.raises(InvalidModelName, match=why):
        validate_model_name(name)


def test_names_compare_as_the_server_stores_them():
    assert canonical("SmolLM2") == canonical("registry.ollama.ai/library/smollm2:latest")


@pytest.fixture(scope="session")
def go_renderer(tmp_path_factory):
    """tests/go/render_template.go built with Debian's Go (`make test` installs golang-go)."""
    import shutil
    import subprocess

    from studio.config import REPO_ROOT
    go = shutil.which("go")
    assert go, "Go is needed to check the templates against text/template: apt-get install golang-go"
    out = tmp_path_factory.mktemp("go") / "render_template"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(out.parent), "GOCACHE": str(out.parent / "cache"),
           "GOPATH": str(out.parent / "gopath"), "GO111MODULE": "off", "GOFLAGS": "", "CGO_ENABLED": "0"}
    subprocess.run([go, "build", "-o", str(out), str(REPO_ROOT / "tests" / "go" / "render_template.go")],
                   env=env, check=True, capture_output=True, timeout=300)
    return out


def _go_render(binary, template: str, data: dict, tmp_path) -> str:
    import json
    import subprocess
    source = tmp_path / "template.txt"
    source.write_text(template, encoding="utf-8")
    proc = subprocess.run([str(binary), str(source)], input=json.dumps(data), capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_template_renders_as_gos_text_template_renders_it(case, go_renderer, tmp_path):
    """The stand-in (and the Jinja comparison above) render templates with the studio's Python subset
    of Go templates; here Go's own text/template, the engine Ollama runs, gets the same chats."""
    from studio.ollama.gotemplate import collate
    setup = chat_setup(CASES[case][1])
    for chat in (TWO_TURNS, [SYSTEM, *TWO_TURNS], TWO_TURNS[:1]):
        system, messages = collate(chat)
        data = {"System": system, "Messages": messages, "Tools": None, "Response": "", "Prompt": ""}
        assert render(setup.template, data) == _go_render(go_renderer, setup.template, data, tmp_path)


def test_the_subset_agrees_with_go_on_its_edge_cases(go_renderer, tmp_path):
    data = {"Messages": [{"Role": "user", "Content": " a "}, {"Role": "assistant", "Content": "b"}], "System": "",
            "Tools": None}
    for template in ("{{- range $i, $m := .Messages }}{{ $i }}:{{ $m.Role }} {{ end -}}\n!",
                     '{{ if eq (len .Messages) 2 }}two{{ else if .System }}sys{{ else }}none{{ end }}',
                     '{{ $last := index .Messages 1 }}{{ $last.Content }}|{{ or .System "default" }}',
                     "{{ range .Tools }}x{{ else }}empty{{ end }}",
                     '{{- range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}'
                     '{{ if and $last (eq .Role "assistant") }}[last]{{ end }}{{ .Content }}{{ end }}',
                     "  {{- .System -}}  \n{{ range .Messages }} <{{ .Content }}> {{- end }}"):
        assert render(template, data) == _go_render(go_renderer, template, data, tmp_path), template
