"""The ThinkPrune Space: the original and the pruned long-thinker solving one problem side by side.

    python app.py                                              # the toy pair, offline
    python app.py --base deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B \
        --pruned Shiyu-Lab/DeepSeek-R1-Distill-Qwen-1.5B-thinkprune-iter2k
    python app.py --config my_demo.yaml                        # settings: see demo/config.py

The UI lives in demo/; deploy it as a Space with `python demo/deploy.py --space_id <user>/<name>`.
"""

from demo.ui import main


if __name__ == "__main__":
    main()
